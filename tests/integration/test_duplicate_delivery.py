"""At-least-once delivery, exactly-once effects, checked on the real services: every function gets the
same message (same message id) three times at once, then once more; the second round changes nothing
in Postgres, Redis or the bucket."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from svmflow import contracts, topology
from svmflow.contracts import (
    BulkPredictions,
    BulkRequest,
    DeadLetterReplay,
    ModelEvent,
    Predictions,
    RollbackRequest,
    TrainingRequest,
)
from svmflow.db import job_queue
from svmflow.db.tables import PredictionBatch
from svmflow.messaging import publish
from tests.builders import db_snapshot, feedback, prediction_request, redis_snapshot
from tests.emulated_harness import EmulatedRun, wait_until

pytestmark = pytest.mark.integration

# Bookkeeping that a redelivery may touch by design: claims of the messages a redelivered
# `prediction` publishes again.
BOOKKEEPING = ("processed_events",)


def state(run: EmulatedRun) -> dict[str, Any]:
    return {
        "db": db_snapshot(run.container.db, skip=BOOKKEEPING),
        "redis": redis_snapshot(run.container.redis),
        "bucket": run.container.bucket.list(""),
    }


def settled(run: EmulatedRun, quiet_seconds: float = 2.5, timeout: float = 60.0) -> dict[str, Any]:
    """The state once nothing has changed for ``quiet_seconds`` and no training job is pending.

    The quiet time covers the emulator's push delay, which can reach a couple of seconds for a
    subscription that has been idle."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = state(run)
        busy = any(
            row.status in ("queued", "running") for row in job_queue.records(run.container.db, limit=1000)
        )
        if now != last or busy:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            return now
        time.sleep(0.25)
    raise AssertionError("the system did not settle")


def stored_batch(run: EmulatedRun, rows: int, offset: int) -> Any:
    batch_id = run.accepted(rows=rows, offset=offset)
    view = run.wait_done(batch_id)

    def in_db() -> bool:
        with run.container.db.transaction() as session:
            return session.get(PredictionBatch, batch_id) is not None

    wait_until(in_db, 30, "the batch in Postgres")
    return view


def _predictions(run: EmulatedRun) -> contracts.Contract:
    request = prediction_request(f"dup-{secrets.token_hex(4)}", rows=6, offset=1000)
    now = datetime.now(UTC)
    return Predictions(
        batch_id=request.batch_id,
        subjects=request.subjects,
        features=request.features,
        labels=[0, 1, 0, 1, 0, 1],
        scores=[-1.5, 1.5, -0.5, 0.5, -2.0, 2.0],
        model_version=run.current_model()["version"],
        submitted_at=now,
        predicted_at=now,
    )


def _feedback(run: EmulatedRun) -> contracts.Contract:
    view = stored_batch(run, rows=4, offset=1010)
    subjects = [r["subject"] for r in view["results"]]
    return feedback(view["batch_id"], subjects, [1, 0, 1, 1])


def _model_event(run: EmulatedRun) -> contracts.Contract:
    current = run.current_model()["version"]
    return ModelEvent(
        job_id=f"job-dup-{secrets.token_hex(4)}",
        request_id="dup",
        decision="rejected",
        reason="duplicate-delivery test: the champion stays",
        candidate_version=None,
        current_version=current,
        previous_version=None,
        finished_at=datetime.now(UTC),
    )


def _bulk_request(run: EmulatedRun) -> contracts.Contract:
    job_id = f"dup-{secrets.token_hex(4)}"
    path = f"bulk/{job_id}/notes.csv"
    run.container.bucket.write(path, b"variance,skewness,curtosis,entropy\n1,2,3,4\n-3,-8,12,-1\n1,x,3,4\n")
    return BulkRequest(
        job_id=job_id,
        uri=path,
        path=path,
        format="csv",
        output=f"{path}.out/{job_id}/",
        submitted_at=datetime.now(UTC),
    )


def _bulk_predictions(run: EmulatedRun) -> contracts.Contract:
    job_id = f"dup-{secrets.token_hex(4)}"
    return BulkPredictions(
        job_id=job_id,
        chunk=0,
        output=f"bulk/{job_id}/notes.csv.out/{job_id}/",
        model_version=run.current_model()["version"],
        lines=[2, 3],
        labels=[0, 1],
        scores=[-1.0, 1.0],
        predicted_at=datetime.now(UTC),
    )


def _dead_letter_replay(run: EmulatedRun) -> contracts.Contract:
    """A replay of a prediction request waiting in its dead-letter subscription."""
    request = prediction_request(f"dup-{secrets.token_hex(4)}", rows=3, offset=1040)
    dead = topology.dead_letter_topic(topology.PREDICTION_REQUESTS)
    message_id = publish(run.container.publisher, dead, request, batch_id=request.batch_id)
    wait_until(
        lambda: any(d.message_id == message_id for d in run.container.dead_letters.list_dead_letters()),
        30,
        "the dead letter in its subscription",
    )
    return DeadLetterReplay(
        request_id=f"dup-{secrets.token_hex(4)}",
        message_id=message_id,
        topic=topology.PREDICTION_REQUESTS,
        requested_by="duplicate-delivery test",
        requested_at=datetime.now(UTC),
    )


MESSAGES: dict[str, Callable[[EmulatedRun], contracts.Contract]] = {
    "prediction": lambda run: prediction_request(f"dup-{secrets.token_hex(4)}", rows=6, offset=1020),
    "prediction_to_cache": _predictions,
    "prediction_to_db": _predictions,
    "drift_monitor": _predictions,
    "feedback_to_db": _feedback,
    "feedback_to_training": _feedback,
    "feedback_to_performance": _feedback,
    "training": lambda run: TrainingRequest(
        request_id=f"dup-{secrets.token_hex(4)}", reason="manual", requested_at=datetime.now(UTC)
    ),
    "training_to_cache": _model_event,
    "training_to_db": _model_event,
    # A version that cannot serve: the outcome (failed, with the reason) is recorded once, and
    # production stays as it is for the tests that follow.
    "rollback": lambda run: RollbackRequest(
        request_id=f"dup-{secrets.token_hex(4)}",
        to_version="never-trained",
        requested_by="duplicate-delivery test",
        requested_at=datetime.now(UTC),
    ),
    "bulk_split": _bulk_request,
    "bulk_results": _bulk_predictions,
    # Pushed straight to the function, as the emulator pushes a dead letter: the batch is failed
    # and the dead letter listed once.
    "prediction_dead_letters": lambda run: prediction_request(
        f"dup-{secrets.token_hex(4)}", rows=3, offset=1030
    ),
    "dead_letter_replay": _dead_letter_replay,
}


@pytest.mark.parametrize("function", list(topology.FUNCTIONS))
def test_a_redelivered_message_changes_nothing(emulated: EmulatedRun, function: str) -> None:
    run = emulated
    message = MESSAGES[function](run)
    data = contracts.encode(message)
    batch_id = getattr(message, "batch_id", None)
    attributes = {
        "schema_version": str(contracts.SCHEMA_VERSION),
        **({"batch_id": batch_id} if batch_id else {}),
    }
    message_id = f"dup-{secrets.token_hex(6)}"

    before = state(run)  # the previous test left the system settled
    # First round: three copies of one message at the same moment.
    with ThreadPoolExecutor(max_workers=3) as pool:
        statuses = list(pool.map(lambda _: run.push(function, data, attributes, message_id), range(3)))
    # Training copies that find the first one running are acknowledged: the job is recorded and the
    # running delivery answers it, so busy is never an error that uses up attempts.
    assert all(200 <= s < 300 for s in statuses), statuses
    wait_until(lambda: state(run) != before, 30, "the first delivery's effect")
    once = settled(run)

    # Second round: the same message again, twice.
    for _ in range(2):
        assert 200 <= run.push(function, data, attributes, message_id) < 300
    assert settled(run, quiet_seconds=1.5) == once
