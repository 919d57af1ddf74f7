"""Every processor: happy path, duplicate delivery, transient failure then redelivery, poison message."""

from __future__ import annotations

import threading

import msgspec
import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from svmflow import contracts, topology
from svmflow.bootstrap import Container
from svmflow.contracts import ModelEvent, Predictions, TrainingRequest
from svmflow.db.tables import FeedbackVerdict, Prediction, TrainingJob, TrainingRow
from svmflow.domain.training import row_hash
from svmflow.errors import BusyError, TransientError
from svmflow.messaging import Delivery
from tests.builders import (
    add_drifted_feedback,
    db_snapshot,
    encoded,
    feedback,
    prediction_request,
    redis_snapshot,
    true_labels,
)
from tests.conftest import delivery_of, new_delivery
from tests.fakes import FlakyDatabase, Published, RecordingPublisher


def run(container: Container, name: str, delivery: Delivery) -> str:
    return container.processor(name).process(delivery)


def predictions_message(
    container: Container, publisher: RecordingPublisher, batch_id: str = "batch-1", offset: int = 0
) -> Published:
    request = prediction_request(batch_id, offset=offset)
    assert (
        run(container, "prediction", new_delivery(topology.PREDICTION_REQUESTS, encoded(request))) == "done"
    )
    return publisher.on(topology.PREDICTIONS)[-1]


def deliver_twice_concurrently(container: Container, name: str, delivery: Delivery) -> None:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def go() -> None:
        barrier.wait()
        try:
            run(container, name, delivery)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def dead_letters(publisher: RecordingPublisher, topic: str) -> list[Published]:
    return publisher.on(topology.dead_letter_topic(topic))


def request_body(features: str) -> bytes:
    body = '{"batch_id": "b", "subjects": ["a"], "features": %s, "submitted_at": "2026-01-01T00:00:00Z"}'
    return (body % features).encode()


# -- prediction ------------------------------------------------------------------------------


def test_prediction_labels_every_subject_with_the_production_model(trained, publisher) -> None:
    request = prediction_request("b1", rows=20)
    run(
        trained,
        "prediction",
        new_delivery(topology.PREDICTION_REQUESTS, encoded(request), {"batch_id": "b1"}),
    )
    [message] = publisher.on(topology.PREDICTIONS)
    result = contracts.decode(message.data, Predictions)
    pointer, _ = trained.registry.pointer()
    assert result.model_version == pointer.version
    assert result.subjects == request.subjects
    expected, _ = trained.registry.load(pointer.version).predict(np.asarray(request.features))
    assert result.labels == expected.tolist()
    assert sum(a == b for a, b in zip(result.labels, true_labels(rows=20), strict=True)) >= 18
    assert all((score > 0) == (label == 1) for score, label in zip(result.scores, result.labels, strict=True))
    assert message.attributes["batch_id"] == "b1"


def test_prediction_keeps_the_trace(trained, publisher) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    request = prediction_request("b1")
    run(
        trained,
        "prediction",
        new_delivery(topology.PREDICTION_REQUESTS, encoded(request), {"traceparent": parent}),
    )
    child = publisher.on(topology.PREDICTIONS)[0].attributes["traceparent"]
    assert child.split("-")[1] == parent.split("-")[1]
    assert child != parent


def test_prediction_duplicate_publishes_the_same_labels(trained, publisher) -> None:
    delivery = new_delivery(topology.PREDICTION_REQUESTS, encoded(prediction_request("b1")))
    run(trained, "prediction", delivery)
    run(trained, "prediction", delivery)
    first, second = (contracts.decode(m.data, Predictions) for m in publisher.on(topology.PREDICTIONS))
    assert (first.labels, first.scores, first.model_version) == (
        second.labels,
        second.scores,
        second.model_version,
    )


def test_prediction_publish_failure_raises_for_redelivery(trained, publisher) -> None:
    delivery = new_delivery(topology.PREDICTION_REQUESTS, encoded(prediction_request("b1")))
    publisher.fail_next = 1
    with pytest.raises(ConnectionError):
        run(trained, "prediction", delivery)
    assert run(trained, "prediction", delivery) == "done"
    assert len(publisher.on(topology.PREDICTIONS)) == 1


def test_prediction_without_a_model_is_transient(container, publisher) -> None:
    with pytest.raises(TransientError, match="no production model"):
        run(
            container, "prediction", new_delivery(topology.PREDICTION_REQUESTS, encoded(prediction_request()))
        )
    assert publisher.messages == []


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "invalid prediction-requests message"),
        (request_body("[[1, 2]]"), "expects 4 features per row, got 2"),
        (request_body("[[1e309, 2, 3, 4]]"), "Number out of range - at `$.features[0][0]`"),
        pytest.param(
            request_body("[[-1.7e308, -1.7e308, -1.7e308, 0]]"),
            "features of row 0 ('a') overflow the model",
            marks=pytest.mark.filterwarnings("ignore:overflow encountered in matmul"),
        ),
    ],
)
def test_prediction_poison_is_dead_lettered_and_acknowledged(trained, publisher, payload, reason) -> None:
    outcome = run(
        trained, "prediction", new_delivery(topology.PREDICTION_REQUESTS, payload, {"batch_id": "b"})
    )
    assert outcome == "dead-lettered"
    [letter] = dead_letters(publisher, topology.PREDICTION_REQUESTS)
    assert letter.data == payload
    assert reason in letter.attributes["svmflow_error"]
    assert letter.attributes["batch_id"] == "b"
    assert publisher.on(topology.PREDICTIONS) == []


def test_a_handler_tripping_over_stored_data_is_retried_not_dead_lettered(trained, publisher) -> None:
    import msgspec as ms

    trained.bucket.write("models/production.json", b"{not json")
    with pytest.raises(ms.DecodeError):
        run(trained, "prediction", new_delivery(topology.PREDICTION_REQUESTS, encoded(prediction_request())))
    assert dead_letters(publisher, topology.PREDICTION_REQUESTS) == []


# -- prediction-to-cache ---------------------------------------------------------------------


def test_prediction_to_cache_makes_the_batch_pollable(trained, publisher) -> None:
    message = predictions_message(trained, publisher)
    run(trained, "prediction_to_cache", delivery_of(message))
    view = trained.read_model.get_batch("batch-1")
    assert view is not None
    assert view.status == "done"
    assert [r.subject for r in view.results] == prediction_request().subjects
    assert [r.label for r in view.results] == contracts.decode(message.data, Predictions).labels
    assert [s.batch_id for s in trained.read_model.list_batches(10)] == ["batch-1"]


def test_prediction_to_cache_duplicates_change_nothing(trained, publisher) -> None:
    message = predictions_message(trained, publisher)
    run(trained, "prediction_to_cache", delivery_of(message))
    once = redis_snapshot(trained.redis)
    run(trained, "prediction_to_cache", delivery_of(message))
    deliver_twice_concurrently(trained, "prediction_to_cache", delivery_of(message))
    # A second prediction of the same batch (a redelivered request) loses to the first.
    later = predictions_message(trained, publisher)
    run(trained, "prediction_to_cache", delivery_of(later))
    assert redis_snapshot(trained.redis) == once


def test_prediction_to_cache_redis_down_then_redelivered(trained, publisher, redis_server) -> None:
    message = predictions_message(trained, publisher)
    redis_server.connected = False
    with pytest.raises(Exception, match="onnection"):
        run(trained, "prediction_to_cache", delivery_of(message))
    redis_server.connected = True
    run(trained, "prediction_to_cache", delivery_of(message, attempt=2))
    assert trained.read_model.get_batch("batch-1") is not None


def test_prediction_to_cache_poison(trained, publisher) -> None:
    outcome = run(trained, "prediction_to_cache", new_delivery(topology.PREDICTIONS, b'{"batch_id": 5}'))
    assert outcome == "dead-lettered"
    assert len(dead_letters(publisher, topology.PREDICTIONS)) == 1
    assert trained.redis.keys("*") == []


# -- prediction-to-db ------------------------------------------------------------------------


def test_prediction_to_db_stores_every_row_with_its_features(trained, publisher) -> None:
    message = predictions_message(trained, publisher)
    run(trained, "prediction_to_db", delivery_of(message))
    with trained.db.transaction() as session:
        rows = session.scalars(select(Prediction).order_by(Prediction.position)).all()
    request = prediction_request()
    assert [r.subject for r in rows] == request.subjects
    assert [r.features for r in rows] == request.features
    assert [r.label for r in rows] == contracts.decode(message.data, Predictions).labels


def test_prediction_to_db_duplicates_change_nothing(trained, publisher) -> None:
    message = predictions_message(trained, publisher)
    run(trained, "prediction_to_db", delivery_of(message))
    once = db_snapshot(trained.db)
    run(trained, "prediction_to_db", delivery_of(message))
    deliver_twice_concurrently(trained, "prediction_to_db", delivery_of(message))
    assert db_snapshot(trained.db) == once
    later = predictions_message(trained, publisher)  # same batch, predicted again, new message id
    run(trained, "prediction_to_db", delivery_of(later))
    assert db_snapshot(trained.db, skip=("processed_events",)) == {
        k: v for k, v in once.items() if k != "processed_events"
    }


def test_prediction_to_db_database_down_then_redelivered(trained, publisher) -> None:
    message = predictions_message(trained, publisher)
    flaky = Container(trained.settings, db=FlakyDatabase(trained.db, failures=1), publisher=publisher)
    with pytest.raises(OperationalError):
        run(flaky, "prediction_to_db", delivery_of(message))
    run(flaky, "prediction_to_db", delivery_of(message, attempt=2))
    with trained.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Prediction)) == 5


def test_prediction_to_db_poison(trained, publisher) -> None:
    bad = msgspec.json.encode(
        {
            "batch_id": "b",
            "subjects": ["a", "b"],
            "features": [[1.0]],
            "labels": [1],
            "scores": [0.5],
            "model_version": "v",
            "submitted_at": "2026-01-01T00:00:00Z",
            "predicted_at": "2026-01-01T00:00:00Z",
        }
    )
    assert run(trained, "prediction_to_db", new_delivery(topology.PREDICTIONS, bad)) == "dead-lettered"
    assert (
        "features has 1 entries but subjects has 2"
        in dead_letters(publisher, topology.PREDICTIONS)[0].attributes["svmflow_error"]
    )


# -- feedback-to-db and feedback-to-training -------------------------------------------------


def stored_batch(
    trained: Container, publisher: RecordingPublisher, batch_id: str = "batch-1", offset: int = 0
) -> Predictions:
    message = predictions_message(trained, publisher, batch_id, offset)
    run(trained, "prediction_to_db", delivery_of(message))
    return contracts.decode(message.data, Predictions)


def test_feedback_to_db_records_verdicts_and_corrections(trained, publisher) -> None:
    batch = stored_batch(trained, publisher)
    rating = feedback("batch-1", batch.subjects[:2], [1, 0])
    run(trained, "feedback_to_db", new_delivery(topology.FEEDBACK, encoded(rating)))
    with trained.db.transaction() as session:
        verdicts = session.scalars(select(FeedbackVerdict).order_by(FeedbackVerdict.subject)).all()
    assert [(v.subject, v.rating, v.corrected_label) for v in verdicts] == [
        (batch.subjects[0], 1, batch.labels[0]),
        (batch.subjects[1], 0, 1 - batch.labels[1]),
    ]
    assert {v.model_version for v in verdicts} == {batch.model_version}


def test_feedback_to_db_later_rating_replaces_earlier_and_duplicates_do_nothing(trained, publisher) -> None:
    batch = stored_batch(trained, publisher)
    first = new_delivery(topology.FEEDBACK, encoded(feedback("batch-1", batch.subjects[:1], [1])))
    second = new_delivery(topology.FEEDBACK, encoded(feedback("batch-1", batch.subjects[:1], [0])))
    run(trained, "feedback_to_db", first)
    run(trained, "feedback_to_db", second)
    settled = db_snapshot(trained.db)
    run(trained, "feedback_to_db", first)  # the old rating arrives again, late: it must not win
    deliver_twice_concurrently(trained, "feedback_to_db", second)
    assert db_snapshot(trained.db) == settled
    with trained.db.transaction() as session:
        assert session.scalar(select(FeedbackVerdict.rating)) == 0


def test_feedback_before_the_prediction_is_stored_is_retried(trained, publisher) -> None:
    message = predictions_message(trained, publisher)
    batch = contracts.decode(message.data, Predictions)
    rating = new_delivery(topology.FEEDBACK, encoded(feedback("batch-1", batch.subjects[:1], [0])))
    for name in ("feedback_to_db", "feedback_to_training", "feedback_to_performance"):
        with pytest.raises(TransientError, match="not stored yet"):
            run(trained, name, rating)
    run(trained, "prediction_to_db", delivery_of(message))
    for name in ("feedback_to_db", "feedback_to_training", "feedback_to_performance"):
        assert run(trained, name, rating) == "done"


@pytest.mark.parametrize("name", ["feedback_to_db", "feedback_to_training", "feedback_to_performance"])
def test_feedback_for_unknown_subjects_is_poison(trained, publisher, name) -> None:
    stored_batch(trained, publisher)
    rating = new_delivery(topology.FEEDBACK, encoded(feedback("batch-1", ["nobody"], [0])))
    assert run(trained, name, rating) == "dead-lettered"
    assert (
        "has no subjects ['nobody']"
        in dead_letters(publisher, topology.FEEDBACK)[0].attributes["svmflow_error"]
    )


def test_feedback_to_training_adds_corrected_rows(trained, publisher) -> None:
    batch = stored_batch(trained, publisher)
    run(
        trained,
        "feedback_to_training",
        new_delivery(topology.FEEDBACK, encoded(feedback("batch-1", batch.subjects[:3], [1, 0, 1]))),
    )
    with trained.db.transaction() as session:
        rows = session.scalars(
            select(TrainingRow).where(TrainingRow.source == "feedback").order_by(TrainingRow.subject)
        ).all()
    assert [(r.batch_id, r.subject, r.label, r.source_key) for r in rows] == [
        ("batch-1", batch.subjects[0], batch.labels[0], row_hash(batch.features[0])),
        ("batch-1", batch.subjects[1], 1 - batch.labels[1], row_hash(batch.features[1])),
        ("batch-1", batch.subjects[2], batch.labels[2], row_hash(batch.features[2])),
    ]
    assert {r.kind for r in rows} == {"sample"}
    assert publisher.on(topology.TRAINING_REQUESTS) == []  # 3 labels < 10


def test_feedback_to_training_requests_one_training_per_threshold(trained, publisher) -> None:
    for index in range(3):
        batch = stored_batch(trained, publisher, f"batch-{index}", offset=5 * index)
        delivery = new_delivery(topology.FEEDBACK, encoded(feedback(batch.batch_id, batch.subjects, [0] * 5)))
        run(trained, "feedback_to_training", delivery)
        run(trained, "feedback_to_training", delivery)  # duplicate: no second request
    requests = [contracts.decode(m.data, TrainingRequest) for m in publisher.on(topology.TRAINING_REQUESTS)]
    assert [(r.request_id, r.new_labels) for r in requests] == [("labels-10", 10)]


def test_feedback_to_training_concurrent_duplicates(trained, publisher) -> None:
    batch = stored_batch(trained, publisher)
    delivery = new_delivery(topology.FEEDBACK, encoded(feedback("batch-1", batch.subjects, [0] * 5)))
    deliver_twice_concurrently(trained, "feedback_to_training", delivery)
    with trained.db.transaction() as session:
        assert session.scalar(select(func.count()).where(TrainingRow.source == "feedback")) == 5


def test_feedback_to_training_publish_failure_rolls_back_the_trigger(trained, publisher) -> None:
    for index in range(2):
        batch = stored_batch(trained, publisher, f"batch-{index}", offset=5 * index)
        delivery = new_delivery(topology.FEEDBACK, encoded(feedback(batch.batch_id, batch.subjects, [1] * 5)))
        if index == 1:
            publisher.fail_next = 1
            with pytest.raises(ConnectionError):
                run(trained, "feedback_to_training", delivery)
        run(trained, "feedback_to_training", delivery)
    assert [m.topic for m in publisher.on(topology.TRAINING_REQUESTS)] == ["training-requests"]


# -- training --------------------------------------------------------------------------------


def request_delivery(request_id: str = "labels-10") -> Delivery:
    reason = "manual" if request_id.startswith("manual-") else "labels"
    request = TrainingRequest(request_id=request_id, reason=reason, requested_at=contracts_now())
    return new_delivery(topology.TRAINING_REQUESTS, encoded(request))


def contracts_now():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    return datetime.now(UTC)


def model_events(publisher: RecordingPublisher) -> list[ModelEvent]:
    """The outcomes: the events that end a job (not its queued and running states)."""
    events = [contracts.decode(m.data, ModelEvent) for m in publisher.on(topology.MODELS)]
    return [e for e in events if e.decision not in contracts.PENDING_DECISIONS]


def test_training_without_new_labels_is_rejected_and_recorded(trained, publisher) -> None:
    run(trained, "training", request_delivery())
    [event] = model_events(publisher)
    assert event.decision == "rejected"
    assert "only 0 rows of unbiased feedback" in event.reason
    assert event.record is not None
    assert event.record.window_rows == 0
    assert event.new_labels == 0
    assert event.candidate_version in trained.registry.versions()
    assert event.current_version == event.previous_version


def test_training_duplicate_repeats_the_recorded_outcome(trained, publisher) -> None:
    delivery = request_delivery()
    run(trained, "training", delivery)
    versions = trained.registry.versions()
    run(trained, "training", delivery)
    deliver_twice_concurrently(trained, "training", delivery)
    events = model_events(publisher)
    assert len(events) == 4
    assert {msgspec.json.encode(e) for e in events} == {msgspec.json.encode(events[0])}
    assert trained.registry.versions() == versions


def test_training_while_another_runs_is_queued_not_refused(trained, publisher) -> None:
    from svmflow.db import job_queue

    other = TrainingRequest(request_id="manual-other", reason="manual", requested_at=contracts_now())
    assert job_queue.admit(trained.db, other, "elsewhere:1:ab", lease_seconds=60).verdict == "run"
    assert run(trained, "training", request_delivery("manual-20")) == "done"  # acknowledged
    [event] = [contracts.decode(m.data, ModelEvent) for m in publisher.on(topology.MODELS)]
    assert (event.job_id, event.decision) == ("job-manual-20", "queued")
    assert "queued behind job job-manual-other" in event.reason
    assert model_events(publisher) == []


def test_training_retry_after_an_unrecorded_promotion_reports_the_promotion(trained, publisher) -> None:
    """The pointer moved but recording the outcome failed: the retry must not train again and
    report a rejection while its model serves."""
    add_drifted_feedback(trained)
    promoting = Container(
        trained.settings,
        db=trained.db,
        bucket=trained.bucket,
        publisher=publisher,
        redis=trained.redis,
    )
    registry = promoting.registry
    original = registry.record_job_outcome
    registry.record_job_outcome = lambda *_: (_ for _ in ()).throw(ConnectionError("bucket down"))  # type: ignore[method-assign]
    delivery = request_delivery("manual-9")
    with pytest.raises(ConnectionError):
        run(promoting, "training", delivery)
    pointer, _ = registry.pointer()
    registry.record_job_outcome = original  # type: ignore[method-assign]
    run(promoting, "training", delivery)
    [event] = model_events(publisher)
    assert event.decision == "promoted"
    assert event.candidate_version == event.current_version == pointer.version
    assert event.challenger is not None


def test_training_database_down_then_redelivered(trained, publisher) -> None:
    flaky = Container(
        trained.settings, db=FlakyDatabase(trained.db, failures=1), publisher=publisher, bucket=trained.bucket
    )
    # Refused as busy, not as a failure of the message: the embedded bus keeps its attempts.
    with pytest.raises(BusyError, match="cannot record training request labels-10 now"):
        run(flaky, "training", request_delivery())
    run(flaky, "training", request_delivery())
    assert len(model_events(publisher)) == 1


def test_training_poison(trained, publisher) -> None:
    bad = b'{"request_id": "", "reason": "labels", "requested_at": "2026-01-01T00:00:00Z"}'
    assert run(trained, "training", new_delivery(topology.TRAINING_REQUESTS, bad)) == "dead-lettered"
    assert model_events(publisher) == []


# -- training-to-cache and training-to-db ----------------------------------------------------


@pytest.fixture
def promotion(trained, publisher) -> Published:
    """The models event of a promotion (of a second version)."""
    add_drifted_feedback(trained)
    second = Container(
        trained.settings,
        db=trained.db,
        bucket=trained.bucket,
        publisher=publisher,
        redis=trained.redis,
    )
    run(second, "training", request_delivery("manual-2"))
    message = publisher.on(topology.MODELS)[-1]
    assert contracts.decode(message.data, ModelEvent).decision == "promoted"
    return message


def test_training_to_cache_updates_current_model_history_and_jobs(trained, promotion) -> None:
    event = contracts.decode(promotion.data, ModelEvent)
    run(trained, "training_to_cache", delivery_of(promotion))
    read_model = trained.read_model
    assert read_model.current_model().version == event.candidate_version
    assert [m.version for m in read_model.model_versions()] == [event.candidate_version]
    assert [j.job_id for j in read_model.jobs()] == [event.job_id]


def test_training_to_cache_older_event_does_not_win(trained, promotion) -> None:
    event = contracts.decode(promotion.data, ModelEvent)
    older = msgspec.structs.replace(
        event, job_id="old", current_version="old-version", finished_at=event.finished_at.replace(year=2000)
    )
    run(trained, "training_to_cache", delivery_of(promotion))
    once = redis_snapshot(trained.redis)
    run(trained, "training_to_cache", delivery_of(promotion))
    deliver_twice_concurrently(trained, "training_to_cache", delivery_of(promotion))
    assert redis_snapshot(trained.redis) == once
    run(trained, "training_to_cache", new_delivery(topology.MODELS, encoded(older)))
    assert trained.read_model.current_model().version == event.candidate_version


def test_training_to_cache_redis_down(trained, promotion, redis_server) -> None:
    redis_server.connected = False
    with pytest.raises(Exception, match="onnection"):
        run(trained, "training_to_cache", delivery_of(promotion))
    redis_server.connected = True
    run(trained, "training_to_cache", delivery_of(promotion, attempt=2))
    assert trained.read_model.current_model() is not None


def test_training_to_db_records_job_and_version_once(trained, promotion) -> None:
    run(trained, "training_to_db", delivery_of(promotion))
    once = db_snapshot(trained.db)
    run(trained, "training_to_db", delivery_of(promotion))
    run(trained, "training_to_db", delivery_of(promotion, message_id="republished"))
    assert db_snapshot(trained.db, skip=("processed_events",)) == {
        k: v for k, v in once.items() if k != "processed_events"
    }
    with trained.db.transaction() as session:
        [job] = session.scalars(select(TrainingJob)).all()
    assert job.decision == "promoted"


def test_training_to_db_database_down(trained, promotion, publisher) -> None:
    flaky = Container(trained.settings, db=FlakyDatabase(trained.db, failures=1), publisher=publisher)
    with pytest.raises(OperationalError):
        run(flaky, "training_to_db", delivery_of(promotion))
    run(flaky, "training_to_db", delivery_of(promotion, attempt=2))
    with trained.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(TrainingJob)) == 1


@pytest.mark.parametrize("name", ["training_to_cache", "training_to_db"])
def test_model_event_poison(trained, publisher, name: str) -> None:
    assert run(trained, name, new_delivery(topology.MODELS, b"[]")) == "dead-lettered"
    assert len(dead_letters(publisher, topology.MODELS)) == 1
