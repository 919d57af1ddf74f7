"""Rebuilding the read model never removes what it cannot restore, and the APIs keep answering."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from svmflow import operations, topology
from svmflow.bootstrap import Container
from svmflow.messaging import publish
from svmflow.read_model import BatchResult, BatchView
from tests.builders import feedback, prediction_request


@pytest.fixture
def running(embedded: Container) -> Container:
    """The embedded runtime with a model in production, its events applied to the read model and the
    database."""
    operations.seed(embedded)
    assert operations.train(embedded).decision == "promoted"
    embedded.bus.drain(60)
    assert embedded.read_model.current_model() is not None
    return embedded


def test_a_batch_done_in_redis_but_not_yet_in_the_database_stays_done(running: Container) -> None:
    now = datetime.now(UTC)
    view = BatchView(
        batch_id="cached-only",
        status="done",
        model_version="v1",
        record_count=1,
        submitted_at=now,
        predicted_at=now,
        results=[BatchResult(subject="s", label=1, score=0.5)],
    )
    running.read_model.put_batch(view)  # prediction-to-cache ran; prediction-to-db has not yet
    # and a batch that went all the way, for the refill
    publish(running.publisher, topology.PREDICTION_REQUESTS, prediction_request("stored"), batch_id="stored")
    running.bus.drain(60)

    counts = operations.rebuild_read_model(running)

    assert counts["jobs"] >= 1
    assert counts["batches"] == 1
    assert running.read_model.get_batch("cached-only") == view
    assert running.read_model.get_batch("stored") is not None
    assert running.read_model.current_model() is not None


def test_the_current_model_never_disappears_while_the_read_model_is_rebuilt(running: Container) -> None:
    trained = running
    gaps: list[int] = []
    done = threading.Event()

    def watch() -> None:  # what the ingest API checks on every batch
        while not done.is_set():
            if trained.read_model.current_model() is None:
                gaps.append(1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for _ in range(20):
            operations.rebuild_read_model(trained)
    finally:
        done.set()
        watcher.join()
    assert gaps == []


def test_the_ratings_that_reached_the_training_data_are_restored(running: Container) -> None:
    publish(running.publisher, topology.PREDICTION_REQUESTS, prediction_request("rated", 3), batch_id="rated")
    running.bus.drain(60)
    view = running.read_model.get_batch("rated")
    assert view is not None
    publish(running.publisher, topology.FEEDBACK, feedback("rated", ["s0", "s2"], [0, 1]), batch_id="rated")
    running.bus.drain(60)
    recorded = running.read_model.training_labels("rated")
    assert [(e.subject, e.label) for e in recorded] == [
        ("s0", 1 - view.results[0].label),
        ("s2", view.results[2].label),
    ]
    running.read_model.client.delete(*running.read_model.client.keys("*training-labels*"))
    assert running.read_model.training_labels("rated") == []

    counts = operations.rebuild_read_model(running)

    assert counts["training_labels"] == 2
    restored = running.read_model.training_labels("rated")
    assert [(e.subject, e.label, e.rated_at) for e in restored] == [
        (e.subject, e.label, e.rated_at) for e in recorded
    ]
