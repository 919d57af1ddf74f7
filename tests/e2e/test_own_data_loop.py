"""The whole loop on data sets a user brings: ingest, predict, poll, feedback, retrain, promote.

Two data sets scikit-learn ships (no download) are written to CSV, given a spec by ``svmflow init``,
and served by the embedded system through both HTTP APIs: wine (13 features, 3 classes) and breast
cancer (30 features, binary). The live batch comes from a recalibrated instrument (the feature the
first model leans on most reads higher), the feedback names the right class of every record, and the
retrained model must be promoted and serve the next batch.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fakeredis
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sqlalchemy import select
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.wiring import backend_of
from svmflow import operations
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.cli import main
from svmflow.config import Settings
from svmflow.datasets.served import ServedDataset
from svmflow.db.tables import FeedbackVerdict, TrainingJob, TrainingRow

AUTH = {"X-API-Key": "dev-local-key"}


@dataclass(frozen=True)
class Case:
    load: Callable[..., Any]
    label: str
    class_names: tuple[str, ...]  # by the target's integer code
    gate: str = ""  # lines added to the spec's [gate] table


CASES = {
    # 178 rows: the seed hold-out has about 36, so a single error there moves accuracy by 3% and a
    # class's recall by 12%; the spec loosens the seed guard rails to what such a hold-out can show.
    "wine": Case(
        load_wine,
        "cultivar",
        ("barolo", "grignolino", "barbera"),
        gate="seed_tolerance = 0.05\nrecall_floor = 0.85\n",
    ),
    "breast-cancer": Case(load_breast_cancer, "diagnosis", ("malignant", "benign")),
}


@dataclass
class OwnData:
    spec_path: Path
    features: np.ndarray
    truth: list[str]  # each row's class name
    feature_names: list[str]


@pytest.fixture(params=sorted(CASES))
def own_data(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> OwnData:
    """The data set as a user has it (a CSV with a label column), and the spec ``svmflow init`` writes."""
    monkeypatch.setenv("SVMFLOW_STATE_DIR", str(tmp_path / "cli-state"))
    monkeypatch.setenv("SVMFLOW_LOG_LEVEL", "WARNING")
    case = CASES[request.param]
    bunch = case.load()
    truth = [case.class_names[t] for t in bunch.target]
    data = tmp_path / f"{request.param}.csv"
    with data.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*bunch.feature_names, case.label])
        writer.writerows([*row, name] for row, name in zip(bunch.data.tolist(), truth, strict=True))
    spec_path = tmp_path / f"{request.param}.toml"
    assert main(["init", str(data), "--label", case.label, "--out", str(spec_path)]) == 0
    text = spec_path.read_text()
    assert text.rstrip().endswith("[gate]")  # the table ``init`` leaves for the user to fill
    spec_path.write_text(text + case.gate)
    return OwnData(spec_path, np.asarray(bunch.data), truth, list(bunch.feature_names))


@dataclass
class Running:
    container: Container
    ingest: TestClient
    predict: TestClient

    def drain(self) -> None:
        self.container.bus.drain(timeout=120)

    def submit(self, body: dict[str, Any]) -> str:
        response = self.ingest.post("/v1/batches", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        return str(response.json()["batch_id"])

    def poll(self, batch_id: str) -> dict[str, Any]:
        self.drain()
        response = self.predict.get(f"/v1/batches/{batch_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def running(own_data: OwnData, tmp_path: Path) -> Iterator[Running]:
    settings = Settings(
        state_dir=tmp_path / "state", model_refresh_seconds=0.0, dataset_spec=own_data.spec_path
    )
    container = Container(
        settings, redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()), secrets=EnvSecrets({})
    )
    container.bus.min_backoff = 0.02
    container.bus.max_backoff = 0.1
    container.subscribe_all(container.bus)
    container.bus.start(workers=2)
    try:
        with (
            TestClient(create_ingest_app(backend_of(container))) as ingest,
            TestClient(create_predict_app(backend_of(container))) as predict,
        ):
            yield Running(container, ingest, predict)
    finally:
        container.bus.stop()


def recalibrated(own_data: OwnData, container: Container, version: str) -> np.ndarray:
    """Every record as a recalibrated instrument reads it: the feature the model weighs most (in
    standard units) reads three standard deviations higher."""
    model = container.registry.load(version)
    leaned_on = int(np.argmax(np.abs(model.coef).max(axis=0)))
    shifted = own_data.features.copy()
    shifted[:, leaned_on] += 3 * model.scale[leaned_on]
    return shifted


def test_the_whole_loop_on_a_data_set_the_user_brings(own_data: OwnData, running: Running) -> None:
    container = running.container
    dataset = ServedDataset.load(own_data.spec_path)
    classes = list(dataset.class_names)
    assert sorted(classes) == sorted(set(own_data.truth))
    assert list(dataset.feature_names) == own_data.feature_names

    # Seeding and the first training follow the spec: its rows, its features, its classes.
    assert operations.seed(container) == len(own_data.truth)
    first = operations.train(container)
    assert first.decision == "promoted", first.reason
    assert first.candidate_version is not None
    assert first.feature_names == own_data.feature_names
    metadata = container.registry.metadata(first.candidate_version)
    assert metadata.model_digest == dataset.model_digest
    assert metadata.class_names == classes
    assert container.registry.load(first.candidate_version).n_classes == len(classes)
    running.drain()

    # 1. Ingest: half the records by name (in the spec's names), half by position.
    rows = recalibrated(own_data, container, first.candidate_version)
    prefix = uuid.uuid4().hex[:6]
    subjects = [f"{prefix}-{i}" for i in range(len(rows))]
    records: list[Any] = [
        dict(zip(own_data.feature_names, row, strict=True)) if i % 2 else row
        for i, row in enumerate(rows.tolist())
    ]
    batch_id = running.submit({"subjects": subjects, "records": records})

    # 2. Predict and poll: every answer names its class, the one its label stands for.
    view = running.poll(batch_id)
    assert view["model_version"] == first.candidate_version
    results = view["results"]
    assert [r["subject"] for r in results] == subjects
    assert all(r["class"] == classes[r["label"]] for r in results)
    drifted_accuracy = np.mean([r["class"] == t for r, t in zip(results, own_data.truth, strict=True)])

    # 3. Feedback names the right class of every record (a batch rated in full: an unbiased sample).
    response = running.predict.patch(
        f"/v1/batches/{batch_id}", json={"subjects": subjects, "labels": own_data.truth}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    assert response.json()["kind"] == "sample"
    running.drain()

    # 4. The labels asked for a retraining, which the gate promoted.
    with container.db.transaction() as session:
        feedback_labels = session.scalars(
            select(TrainingRow.label).where(TrainingRow.source == "feedback")
        ).all()
        jobs = session.scalars(select(TrainingJob).order_by(TrainingJob.finished_at)).all()
    assert sorted(feedback_labels) == sorted(classes.index(t) for t in own_data.truth)
    assert [j.decision for j in jobs] == ["promoted", "promoted"], [j.reason for j in jobs]
    retrained = jobs[-1].candidate_version
    assert retrained is not None
    assert container.read_model.current_model().version == retrained
    retrained_metadata = container.registry.metadata(retrained)
    assert retrained_metadata.model_digest == dataset.model_digest
    # The gate judged it per class: every class's recall, and both accuracies beside its metric.
    retrained_record = retrained_metadata.metrics.record
    assert retrained_record is not None
    seed_score = retrained_record.challenger_seed
    assert [r.label for r in seed_score.recall] == list(range(len(classes)))
    assert all(r.rows > 0 and r.recall is not None and r.recall >= 0.85 for r in seed_score.recall)
    assert seed_score.accuracy is not None
    assert seed_score.accuracy >= 0.9
    assert seed_score.balanced_accuracy is not None
    assert seed_score.balanced_accuracy >= 0.9

    # 5. The next batch from the recalibrated instrument is served by the promoted model, better.
    again = running.poll(
        running.submit({"subjects": [f"{s}-again" for s in subjects], "features": rows.tolist()})
    )
    assert again["model_version"] == retrained
    accuracy = np.mean([r["class"] == t for r, t in zip(again["results"], own_data.truth, strict=True)])
    assert accuracy > drifted_accuracy
    assert container.bus.list_dead_letters() == []


def test_a_wrong_rating_of_a_multi_class_model_without_the_class_is_a_verdict_only(
    own_data: OwnData, running: Running
) -> None:
    container = running.container
    # A binary model's "wrong" names the other class, a training label; a multi-class one's does not.
    expected_training_rows = 1 if len(set(own_data.truth)) == 2 else 0
    operations.seed(container)
    assert operations.train(container).decision == "promoted"
    running.drain()
    subject = f"{uuid.uuid4().hex[:6]}-0"
    batch_id = running.submit({"subjects": [subject], "features": [own_data.features[0].tolist()]})
    running.poll(batch_id)
    response = running.predict.patch(
        f"/v1/batches/{batch_id}", json={"subjects": [subject], "ratings": [0]}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    running.drain()
    with container.db.transaction() as session:
        [verdict] = session.scalars(select(FeedbackVerdict)).all()
        training = session.scalars(select(TrainingRow).where(TrainingRow.source == "feedback")).all()
    assert verdict.rating == 0
    assert len(training) == expected_training_rows
    if expected_training_rows:
        assert training[0].label == 1 - verdict.predicted_label
    performance = container.read_model.performance_json(verdict.model_version)
    assert performance is not None
    assert b'"accuracy":{"value":0.0' in performance  # the wrong rating counts for live accuracy
