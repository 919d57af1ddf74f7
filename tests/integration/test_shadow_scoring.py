"""Shadow scoring on real PostgreSQL: a challenger in shadow scores live batches beside the champion,
its answers never reach clients, its flips are counted once per batch, and after the configured number
of records it is promoted with the count and examples in the promotion record."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from svmflow import contracts, topology
from svmflow.adapters.local_bucket import LocalBucket
from svmflow.contracts import ArtifactMetrics, Evaluation, ModelEvent, Predictions, TrainingRequest
from svmflow.domain.gate import GatePolicy
from svmflow.domain.linear_model import sha256_hex
from svmflow.domain.training import fit
from svmflow.handlers import prediction, prediction_to_cache, prediction_to_db, training, training_to_cache
from svmflow.messaging import EventContext
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, ModelServer, library_versions, new_version
from svmflow.shadow_promotion import store
from tests.builders import _ROWS, prediction_request, promote_by_hand
from tests.fakes import RecordingPublisher
from tests.stores import Stores, real_stores

pytestmark = pytest.mark.integration

PROMOTE_AFTER = 120


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with real_stores() as found:
        yield found


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(LocalBucket(tmp_path / "bucket"))


def context() -> EventContext:
    return EventContext(uuid.uuid4().hex, {})


def saved_challenger(registry: ModelRegistry) -> tuple[str, str]:
    """A model trained on every label inverted: it disagrees with the champion on nearly every row.
    Returns its version and the training job named in its metadata."""
    model = fit([dataclasses.replace(r, label=1 - r.label) for r in _ROWS], c=1.0)
    artifact = model.to_bytes()
    job_id = f"job-challenger-{uuid.uuid4().hex[:6]}"
    version = new_version(artifact, job_id)
    registry.save(
        model,
        ArtifactMetadata(
            version=version,
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            job_id=job_id,
            data_fingerprint="-",
            train_size=len(_ROWS),
            feedback_rows=0,
            metrics=ArtifactMetrics(
                challenger=Evaluation(
                    seed_holdout_accuracy=0.0,
                    seed_holdout_size=0,
                    feedback_holdout_accuracy=None,
                    feedback_holdout_size=0,
                ),
                n_features=model.n_features,
            ),
            library_versions=library_versions(),
        ),
    )
    return version, job_id


def test_a_challenger_in_shadow_counts_flips_and_is_promoted_with_them(
    stores: Stores, registry: ModelRegistry
) -> None:
    champion = promote_by_hand(SimpleNamespace(registry=registry), 1.0)
    challenger, job_id = saved_challenger(registry)
    reason = store(registry, challenger, champion, job_id, "Promoted: significantly better.", PROMOTE_AFTER)
    assert reason.startswith(f"In shadow beside {champion} for {PROMOTE_AFTER} live records")
    server = ModelServer(registry)
    plain = ModelServer(ModelRegistry(registry.bucket))
    publisher = RecordingPublisher()

    batches: list[Predictions] = []
    for offset in (0, 50, 700):
        request = prediction_request(f"b-{uuid.uuid4().hex[:8]}", rows=50, offset=offset)
        predicted = prediction.predict(request, server)
        batches.append(predicted)
        # Clients get the champion's answers, exactly as without a shadow; the read model has no trace of it.
        assert predicted.model_version == champion
        assert predicted.labels == prediction.predict(request, plain).labels
        assert "shadow" not in contracts.encode(prediction_to_cache.batch_view(predicted)).decode()
        assert predicted.shadow is not None
        assert (predicted.shadow.version, predicted.shadow.records) == (challenger, 50)
        flips = [
            i for i, s in enumerate(request.subjects) if s in {e.subject for e in predicted.shadow.examples}
        ]
        assert predicted.shadow.flips >= 40
        assert len(predicted.shadow.examples) == contracts.SHADOW_EXAMPLES
        for example in predicted.shadow.examples:
            assert example.shadow_label == 1 - example.label
        assert flips

    # 100 records scored: not yet. The same batch delivered twice counts once.
    for predicted in batches[:2]:
        prediction_to_db.handle(predicted, context(), db=stores.db, publisher=publisher)
    prediction_to_db.handle(batches[1], context(), db=stores.db, publisher=publisher)
    assert publisher.on(topology.TRAINING_REQUESTS) == []
    prediction_to_db.handle(batches[2], context(), db=stores.db, publisher=publisher)
    asked = [contracts.decode(m.data, TrainingRequest) for m in publisher.on(topology.TRAINING_REQUESTS)]
    assert [(r.request_id, r.reason) for r in asked] == [(f"shadow-{challenger}", "shadow")]

    models_publisher = RecordingPublisher()
    options = training.TrainingOptions(policy=GatePolicy())
    event = training.handle(
        asked[0], context(), db=stores.db, registry=registry, publisher=models_publisher, options=options
    )
    total_flips = sum(b.shadow.flips for b in batches if b.shadow is not None)
    assert event.decision == "promoted"
    assert (event.candidate_version, event.current_version, event.previous_version) == (
        challenger,
        challenger,
        champion,
    )
    assert event.shadow is not None
    assert (event.shadow.records, event.shadow.flips) == (150, total_flips)
    assert len(event.shadow.examples) == contracts.SHADOW_EXAMPLES
    assert f"would have flipped {total_flips} of 150 live predictions of {champion}" in event.reason
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == challenger
    published = [contracts.decode(m.data, ModelEvent) for m in models_publisher.on(topology.MODELS)]
    assert [e.decision for e in published] == ["promoted"]
    # /v1/models lists the version with what it would have flipped.
    promotion = published[0]
    training_to_cache.handle(promotion, context(), read_model=stores.read_model)
    listed = {entry.version: entry for entry in stores.read_model.model_versions()}
    assert listed[challenger].decision == "promoted"
    report = listed[challenger].shadow
    assert report is not None
    assert report.flips == total_flips
    assert len(report.examples) == contracts.SHADOW_EXAMPLES

    # A later batch's request (or a redelivery) republishes the recorded outcome; nothing moves.
    again = training.handle(
        asked[0], context(), db=stores.db, registry=registry, publisher=models_publisher, options=options
    )
    assert contracts.encode(again) == contracts.encode(event)
    # Promoted, it answers clients itself and nothing is scored in shadow any more.
    server.refresh_seconds = 0
    after = prediction.predict(prediction_request("after", rows=10), server)
    assert after.model_version == challenger
    assert after.shadow is None


def test_a_shadow_beside_a_champion_no_longer_serving_is_not_promoted(
    stores: Stores, registry: ModelRegistry
) -> None:
    holder = SimpleNamespace(registry=registry)
    champion = promote_by_hand(holder, 1.0)
    challenger, job_id = saved_challenger(registry)
    store(registry, challenger, champion, job_id, "Promoted: test.", PROMOTE_AFTER)
    newer = promote_by_hand(holder, 10.0)  # an operator's deploy meanwhile
    server = ModelServer(registry)
    assert prediction.predict(prediction_request("x", rows=5), server).shadow is None
    request = TrainingRequest(
        request_id=f"shadow-{challenger}", reason="shadow", requested_at=datetime.now(UTC)
    )
    event = training.handle(
        request,
        context(),
        db=stores.db,
        registry=registry,
        publisher=RecordingPublisher(),
        options=training.TrainingOptions(policy=GatePolicy()),
    )
    assert event.decision == "rejected"
    assert f"production moved from {champion} to {newer}" in event.reason
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == newer
