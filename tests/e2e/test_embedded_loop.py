"""The whole loop in one process, through the embedded bus and every processor."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select

from svmflow import operations, topology
from svmflow.bootstrap import Container
from svmflow.contracts import Feedback
from svmflow.db.tables import FeedbackVerdict, Prediction, TrainingJob, TrainingRow
from svmflow.messaging import publish
from tests.builders import SHIFT, prediction_request, true_labels

ROWS = 60


def submit(system: Container, batch_id: str, offset: int, shift: tuple[float, ...] | None = None) -> None:
    request = prediction_request(batch_id, rows=ROWS, offset=offset)
    if shift is not None:  # a recalibrated scanner: the same notes, read differently
        request.features = [[x + d for x, d in zip(row, shift, strict=True)] for row in request.features]
    publish(system.publisher, topology.PREDICTION_REQUESTS, request, batch_id=batch_id)


def test_requests_to_promotion_to_the_next_batch(embedded: Container) -> None:
    system = embedded
    operations.seed(system)
    first = operations.train(system)
    assert first is not None
    assert first.decision == "promoted"
    system.bus.drain(30)
    assert system.read_model.current_model().version == first.candidate_version

    # 1. A batch from a drifted scanner (both classes) is predicted, cached and stored.
    submit(system, "loop-1", offset=730, shift=SHIFT)
    system.bus.drain(30)
    view = system.read_model.get_batch("loop-1")
    assert view is not None
    assert view.model_version == first.candidate_version
    assert view.record_count == ROWS
    with system.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == ROWS

    # 2. Honest feedback on every subject: right is 1, wrong is 0.
    truth = true_labels(rows=ROWS, offset=730)
    ratings = [int(r.label == t) for r, t in zip(view.results, truth, strict=True)]
    feedback = Feedback(
        batch_id="loop-1",
        subjects=[r.subject for r in view.results],
        ratings=ratings,  # type: ignore[arg-type]
        rated_at=view.predicted_at,
    )
    publish(system.publisher, topology.FEEDBACK, feedback, batch_id="loop-1")
    system.bus.drain(60)

    # 3. Verdicts and training rows are stored; the ratings (many "wrong": the drift) asked for one
    # retrain, and the gate promoted it: the champion is significantly worse than at its training.
    with system.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(FeedbackVerdict)) == ROWS
        feedback_labels = session.scalars(
            select(TrainingRow.label).where(TrainingRow.source == "feedback").order_by(TrainingRow.source_key)
        ).all()
        jobs = session.scalars(select(TrainingJob).order_by(TrainingJob.finished_at)).all()
    assert sorted(feedback_labels) == sorted(truth)  # honest ratings give back the true labels
    assert [j.decision for j in jobs] == ["promoted", "promoted"]
    retrain = jobs[-1]
    assert retrain.request_id == f"labels-{ROWS}"
    assert system.read_model.current_model().version == retrain.candidate_version
    assert [j.job_id for j in system.read_model.jobs()] == [retrain.job_id, jobs[0].job_id]

    # 4. The next batch is served by the promoted version.
    submit(system, "loop-2", offset=800)
    system.bus.drain(30)
    next_view = system.read_model.get_batch("loop-2")
    assert next_view is not None
    assert next_view.model_version == retrain.candidate_version != first.candidate_version
    assert system.bus.list_dead_letters() == []


def test_rebuilt_read_model_equals_the_live_one(embedded: Container) -> None:
    system = embedded
    operations.seed(system)
    operations.train(system)
    submit(system, "r-1", offset=0)
    submit(system, "r-2", offset=100)
    system.bus.drain(30)
    rated = system.read_model.get_batch("r-1")
    assert rated is not None
    subjects = [r.subject for r in rated.results[:8]]  # fewer than the retraining threshold
    rating = Feedback(batch_id="r-1", subjects=subjects, ratings=[1] * 7 + [0], rated_at=datetime.now(UTC))
    publish(system.publisher, topology.FEEDBACK, rating, batch_id="r-1")
    system.bus.drain(30)

    def snapshot() -> tuple[object, ...]:
        explained = []
        for batch_id in ("r-1", "r-2"):
            _, inputs = system.read_model.get_batch_for_explanation(batch_id)
            assert inputs is not None
            explained.append((msgspec.json.decode(inputs.features), msgspec.json.decode(inputs.explainer)))
        return (
            [system.read_model.get_batch(b) for b in ("r-1", "r-2")],
            system.read_model.current_model(),
            [s.batch_id for s in system.read_model.list_batches(10)],
            explained,
            system.read_model.drift_json(rated.model_version),
            system.read_model.performance_json(rated.model_version),
            system.read_model.training_labels("r-1"),
        )

    live = snapshot()
    assert live[-1] is not None
    counts = operations.rebuild_read_model(system)
    assert counts == {
        "batches": 2,
        "training_labels": 8,
        "models": 1,
        "jobs": 1,
        "performance": 1,
        "drift": 1,
        "dead_letters": 0,
        "webhooks": 0,
    }
    assert snapshot() == live


def test_poison_request_is_dead_lettered_and_replayable(embedded: Container) -> None:
    system = embedded
    operations.seed(system)
    operations.train(system)
    system.bus.publish(topology.PREDICTION_REQUESTS, b'{"not": "a request"}', {"batch_id": "p-1"}).result()
    system.bus.drain(30)
    [letter] = system.bus.list_dead_letters()
    assert letter.topic == topology.PREDICTION_REQUESTS
    assert "invalid prediction-requests message" in letter.reason
    assert letter.attributes["batch_id"] == "p-1"
    failure = system.read_model.get_failure("p-1")  # polled as failed, with the reason
    assert failure is not None
    assert "invalid prediction-requests message" in failure.reason
    assert failure.dead_letter_id == letter.message_id
