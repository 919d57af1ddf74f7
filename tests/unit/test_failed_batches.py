"""The read model's rules for failed batches: a prediction always wins over a failure, a failure never
replaces a prediction, and clearing a failure (a replay) never removes a prediction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis

from svmflow.read_model import BatchFailed, BatchResult, BatchView, ReadModel

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def read_model() -> ReadModel:
    return ReadModel(fakeredis.FakeRedis(server=fakeredis.FakeServer()), "t:")


def failure(batch_id: str, reason: str = "dead-lettered after 5 attempts: boom") -> BatchFailed:
    return BatchFailed(
        batch_id=batch_id, reason=reason, dead_letter_id="dl-1", submitted_at=NOW, failed_at=NOW
    )


def done(batch_id: str) -> BatchView:
    return BatchView(
        batch_id=batch_id,
        status="done",
        model_version="v1",
        record_count=1,
        submitted_at=NOW,
        predicted_at=NOW + timedelta(seconds=1),
        results=[BatchResult(subject="s", label=1, score=0.5)],
    )


def test_a_failure_is_served_and_listed_with_its_status() -> None:
    rm = read_model()
    assert rm.fail_batch(failure("b1"))
    assert rm.get_batch("b1") is None  # no results to rate
    stored = rm.get_failure("b1")
    assert stored is not None
    assert stored.reason.endswith("boom")
    assert [s.batch_id for s in rm.list_batches(10)] == ["b1"]
    assert rm.batch_statuses(["b1", "unknown"]) == ["failed", "pending"]


def test_a_prediction_replaces_a_failure_and_a_failure_never_replaces_a_prediction() -> None:
    rm = read_model()
    rm.fail_batch(failure("b1"))
    assert rm.put_batch(done("b1"))
    assert rm.get_failure("b1") is None
    assert rm.fail_batch(failure("b1", "late")) is False
    assert rm.batch_statuses(["b1"]) == ["done"]
    assert rm.clear_failure("b1") is False  # a replay never removes a prediction
    assert rm.get_batch("b1") == done("b1")


def test_clearing_a_failure_makes_the_batch_pending_and_a_newer_failure_replaces_an_older() -> None:
    rm = read_model()
    rm.fail_batch(failure("b1", "first"))
    assert rm.fail_batch(failure("b1", "second"))
    assert rm.get_failure("b1").reason == "second"  # type: ignore[union-attr]
    assert rm.clear_failure("b1")
    assert rm.get_batch_json("b1") is None
    assert rm.batch_statuses(["b1"]) == ["pending"]
