"""Rebuilding the read model never removes what it cannot restore, and the APIs keep answering."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from svmflow import operations, topology
from svmflow.bootstrap import Container
from svmflow.messaging import publish
from svmflow.read_model import BatchResult, BatchView
from tests.builders import prediction_request


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
