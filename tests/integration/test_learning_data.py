"""Label hygiene and quarantine on real Postgres: the feedback-to-training and training handlers, and
the operator's quarantine commands, against a database of their own on the test run's server."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from sqlalchemy import func, select

from svmflow import contracts, operations, topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import Feedback, PredictionRequest, Predictions
from svmflow.db.tables import RetrainState, TrainingRow
from svmflow.domain.training import row_hash
from tests.builders import feedback, prediction_request
from tests.conftest import delivery_of, new_delivery
from tests.emulated_harness import EmulatedRun
from tests.fakes import RecordingPublisher

pytestmark = pytest.mark.integration


@pytest.fixture
def on_postgres(emulated: EmulatedRun, tmp_path: Path) -> Iterator[Container]:
    """A container whose database is a fresh Postgres database; the rest in-process."""
    name = f"learning_{secrets.token_hex(4)}"
    emulated.postgres.create_database(name)
    url = emulated.postgres.url(name).replace(
        "postgresql+psycopg://postgres@", "postgresql+psycopg://postgres:{}@"
    )
    settings = Settings(
        state_dir=tmp_path / "state",
        database_url=url.format(emulated.secret_values["db-password"]),
        model_refresh_seconds=0.0,
        retrain_min_new_labels=1000,
    )
    container = Container(
        settings, publisher=RecordingPublisher(), redis=fakeredis.FakeRedis(server=fakeredis.FakeServer())
    )
    assert container.db.dialect == "postgresql"
    operations.seed(container)
    assert operations.train(container).decision == "promoted"
    yield container
    container.db.engine.dispose()


def predict(container: Container, request: PredictionRequest) -> Predictions:
    publisher: Any = container.publisher
    container.processor("prediction").process(
        new_delivery(topology.PREDICTION_REQUESTS, contracts.encode(request))
    )
    message = publisher.on(topology.PREDICTIONS)[-1]
    container.processor("prediction_to_db").process(delivery_of(message))
    return contracts.decode(message.data, Predictions)


def rate(container: Container, message: Feedback) -> None:
    result = container.processor("feedback_to_training").process(
        new_delivery(topology.FEEDBACK, contracts.encode(message))
    )
    assert result == "done"


def feedback_rows(container: Container) -> list[TrainingRow]:
    with container.db.transaction() as session:
        return list(
            session.scalars(
                select(TrainingRow).where(TrainingRow.source == "feedback").order_by(TrainingRow.id)
            )
        )


def labels_total(container: Container) -> int:
    with container.db.transaction() as session:
        return int(session.scalar(select(RetrainState.labels_total)) or 0)


def test_one_vector_one_label_and_corrections_count_as_new_labels(on_postgres: Container) -> None:
    first = predict(on_postgres, prediction_request("batch-a", rows=5, offset=0))
    rate(on_postgres, feedback("batch-a", first.subjects, [1, 1, 1, 1, 1]))
    assert labels_total(on_postgres) == 5
    # The same ratings again, and the same vectors rated the same in another batch: nothing new.
    rate(on_postgres, feedback("batch-a", first.subjects, [1, 1, 1, 1, 1]))
    again = predict(on_postgres, prediction_request("batch-b", rows=5, offset=0))
    rate(on_postgres, feedback("batch-b", again.subjects, [1, 1, 1, 1, 1]))
    rows = feedback_rows(on_postgres)
    assert len(rows) == 5
    assert labels_total(on_postgres) == 5
    assert {r.batch_id for r in rows} == {"batch-a"}
    # A correction of one vector from batch b replaces its label, is a new label, and says who.
    correction = msgspec_replace(
        feedback("batch-b", again.subjects[:1], [0]), kind="corrections", labelled_by="key:reviewer"
    )
    rate(on_postgres, correction)
    rows = feedback_rows(on_postgres)
    assert len(rows) == 5
    assert labels_total(on_postgres) == 6
    changed = next(r for r in rows if r.source_key == row_hash(again.features[0]))
    assert changed.label == 1 - again.labels[0]
    assert (changed.batch_id, changed.subject, changed.labelled_by) == (
        "batch-b",
        again.subjects[0],
        "key:reviewer",
    )
    assert changed.label_changes == 1
    assert changed.kind == "corrections"  # no longer evidence for the gate
    with on_postgres.db.transaction() as session:
        keys = session.scalar(
            select(func.count(func.distinct(TrainingRow.source_key))).where(TrainingRow.source == "feedback")
        )
    assert keys == 5


def test_an_outlier_is_quarantined_with_a_reason_and_training_goes_on(on_postgres: Container) -> None:
    request = prediction_request("batch-x", rows=30, offset=100)
    request.features[3] = [1e100, 0.5, 0.5, 0.5]
    batch = predict(on_postgres, request)
    rate(on_postgres, feedback("batch-x", batch.subjects, [1] * 30))
    event = operations.train(on_postgres)
    assert event.decision in ("promoted", "rejected")  # a decision, not a failure
    assert event.training is not None
    assert event.training.quarantined_rows == 1
    assert event.rows is not None
    [held] = event.rows.quarantined_rows
    assert held.subject == batch.subjects[3]
    assert held.by == "rule"
    assert held.reason is not None
    assert "variance = 1e+100 is outside the robust range" in held.reason
    listed = operations.training_rows(on_postgres, status="quarantined")
    assert [r["subject"] for r in listed] == [batch.subjects[3]]


def test_an_operator_quarantines_and_restores_a_batch(on_postgres: Container) -> None:
    batch = predict(on_postgres, prediction_request("batch-q", rows=20, offset=200))
    rate(on_postgres, feedback("batch-q", batch.subjects, [1] * 20))
    assert (
        operations.set_row_status(on_postgres, "quarantined", batch_id="batch-q", reason="bad scanner") == 20
    )
    out = operations.train(on_postgres)
    assert out.training is not None
    assert (out.training.feedback_rows, out.training.quarantined_rows) == (0, 20)
    assert {r["status_reason"] for r in operations.training_rows(on_postgres, batch_id="batch-q")} == {
        "bad scanner"
    }
    [one] = operations.training_rows(on_postgres, batch_id="batch-q", limit=1)
    assert operations.set_row_status(on_postgres, "active", row_ids=[int(one["id"])]) == 1
    back = operations.train(on_postgres)
    assert back.training is not None
    assert (back.training.feedback_rows, back.training.quarantined_rows) == (1, 19)
    assert operations.set_row_status(on_postgres, "active", batch_id="batch-q") == 20
    assert operations.train(on_postgres).training.quarantined_rows == 0  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="name the rows"):
        operations.set_row_status(on_postgres, "active")


def msgspec_replace(message: Feedback, **changes: Any) -> Feedback:
    import msgspec

    return msgspec.structs.replace(message, **changes)
