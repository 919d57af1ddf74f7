"""A model version is bound to the data set spec it was trained for: another spec's version never serves."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from svmflow import operations
from svmflow.adapters.local_bucket import LocalBucket
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import ArtifactMetrics, RollbackRequest
from svmflow.datasets.served import ServedDataset
from svmflow.datasets.spec import DEFAULT_SPEC_PATH
from svmflow.domain.fitting import fit_linear_svm
from svmflow.domain.linear_model import LinearModel, sha256_hex
from svmflow.errors import SvmflowError, TransientError
from svmflow.handlers import rollback
from svmflow.messaging import EventContext
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, ModelServer, SpecBinding, library_versions
from tests.fakes import RecordingPublisher

BANKNOTE = ServedDataset.load(DEFAULT_SPEC_PATH)


def binding(dataset: ServedDataset) -> SpecBinding:
    return SpecBinding(dataset.name, dataset.model_digest, dataset.feature_names, dataset.class_names)


def model(names: tuple[str, ...]) -> LinearModel:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, len(names)))
    return fit_linear_svm(x, (x[:, 0] > 0).astype(np.int64), names)


def publish(registry: ModelRegistry, fitted: LinearModel, digest: str | None, version: str) -> None:
    artifact = fitted.to_bytes()
    registry.save(
        fitted,
        ArtifactMetadata(
            version=version,
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            job_id=f"job-{version}",
            data_fingerprint="-",
            train_size=40,
            feedback_rows=0,
            metrics=ArtifactMetrics(),
            library_versions=library_versions(),
            model_digest=digest,
            class_names=None if digest is None else list(BANKNOTE.class_names),
        ),
    )
    _, generation = registry.pointer()
    registry.promote(version, generation)


def test_a_version_of_the_served_spec_serves(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    publish(registry, model(BANKNOTE.feature_names), BANKNOTE.model_digest, "v1")
    server = ModelServer(registry, 0.0, binding=binding(BANKNOTE))
    assert server.current().version == "v1"
    assert server.class_names == ["genuine", "forged"]


def test_a_version_of_another_spec_is_refused_with_a_clear_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    publish(registry, model(BANKNOTE.feature_names), "0" * 64, "v-other")
    server = ModelServer(registry, 0.0, binding=binding(BANKNOTE))
    # A logging.config call earlier in the process (a migration's) may have disabled existing loggers.
    monkeypatch.setattr(logging.getLogger("svmflow.model_registry"), "disabled", False)
    with caplog.at_level(logging.ERROR), pytest.raises(TransientError, match="another data set spec"):
        server.current()
    assert "refusing model v-other" in caplog.text
    assert "'banknote'" in caplog.text


def test_a_served_model_keeps_serving_when_the_pointer_moves_to_another_spec(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    publish(registry, model(BANKNOTE.feature_names), BANKNOTE.model_digest, "v1")
    server = ModelServer(registry, 0.0, binding=binding(BANKNOTE))
    assert server.current().version == "v1"
    publish(registry, model(BANKNOTE.feature_names), "f" * 64, "v2")
    assert server.current().version == "v1"


def test_a_version_from_before_specs_serves_only_if_its_features_match(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    publish(registry, model(BANKNOTE.feature_names), None, "legacy")
    assert ModelServer(registry, 0.0, binding=binding(BANKNOTE)).current().version == "legacy"
    publish(registry, model(("a", "b", "c", "d")), None, "legacy-other")
    with pytest.raises(TransientError, match="predates data set specs"):
        ModelServer(registry, 0.0, binding=binding(BANKNOTE)).current()


def test_a_pinned_version_of_another_spec_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    publish(registry, model(BANKNOTE.feature_names), "0" * 64, "v-other")
    server = ModelServer(registry, 0.0, binding=binding(BANKNOTE))
    with pytest.raises(ValueError, match="another data set spec"):
        server.pinned("v-other", registry.metadata("v-other").sha256)


def test_seeding_another_data_set_into_a_state_that_holds_one_is_refused(
    tmp_path: Path, own_spec: Path
) -> None:
    state = tmp_path / "state"
    assert operations.seed(Container(Settings(state_dir=state))) == 1372
    other = Container(Settings(state_dir=state, dataset_spec=own_spec))
    with pytest.raises(SvmflowError, match="rows of 4 features, not the 3 of data set 'tiny'"):
        operations.seed(other)


@pytest.fixture
def own_spec(tmp_path: Path) -> Path:
    (tmp_path / "tiny.csv").write_text("a,b,c,kind\n1,2,3,x\n2,3,4,y\n3,4,5,x\n")
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "tiny"\nlabel = "kind"\nseed_data = "tiny.csv"\n'
        '[[classes]]\nname = "x"\n[[classes]]\nname = "y"\n'
        '[[features]]\nname = "a"\n[[features]]\nname = "b"\n[[features]]\nname = "c"\n'
    )
    return spec


def test_a_rollback_to_a_version_of_another_spec_is_refused(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    publish(registry, model(BANKNOTE.feature_names), "0" * 64, "v-other")
    publish(registry, model(BANKNOTE.feature_names), BANKNOTE.model_digest, "v-ours")
    request = RollbackRequest(
        request_id="r-1", to_version="v-other", requested_by="op", requested_at=datetime.now(UTC)
    )
    server = ModelServer(registry, 0.0, binding=binding(BANKNOTE))
    event = rollback.handle(
        request, EventContext("e-1", {}), registry=registry, publisher=RecordingPublisher(), models=server
    )
    assert event.decision == "failed"
    assert "another data set spec" in event.reason
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == "v-ours"
