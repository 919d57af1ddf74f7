"""At-least-once delivery, exactly-once effects, checked on the real services: every function gets the
same message (same message id) three times at once, then once more; the second round changes nothing
in Postgres, Redis, the bucket or what the webhook receiver was sent."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from svmflow import contracts, topology, webhook_deliveries
from svmflow.contracts import (
    BulkPredictions,
    BulkRequest,
    DeadLetterReplay,
    ModelEvent,
    Predictions,
    RollbackRequest,
    TrainingRequest,
    WebhookTick,
)
from svmflow.db import job_queue
from svmflow.db.tables import PredictionBatch, WebhookDelivery
from svmflow.messaging import publish
from svmflow.runtime.ticker import Ticker
from tests.builders import db_snapshot, feedback, prediction_request, redis_snapshot
from tests.emulated_harness import EmulatedRun, wait_until
from tests.https_receiver import Receiver

pytestmark = pytest.mark.integration

# Bookkeeping that a redelivery may touch by design: claims of the messages a redelivered
# `prediction` publishes again.
BOOKKEEPING = ("processed_events",)
# Longer than the emulator takes to push a message on a busy subscription.
TICKS_IN_FLIGHT_SECONDS = 3.0


def receiver(run: EmulatedRun) -> Receiver:
    assert run.receiver is not None, "the emulated run has no webhook receiver"
    return run.receiver


def webhooks_received(run: EmulatedRun) -> list[tuple[str, str]]:
    """Every request the receiver got, by path and webhook id: a webhook sent twice shows here even
    if a bug recorded the delivery only once."""
    with receiver(run).lock:
        return sorted((r.path, r.headers.get("webhook-id", "")) for r in receiver(run).requests)


def state(run: EmulatedRun) -> dict[str, Any]:
    return {
        "db": db_snapshot(run.container.db, skip=BOOKKEEPING),
        "redis": redis_snapshot(run.container.redis),
        "bucket": run.container.bucket.list(""),
        "webhooks": webhooks_received(run),
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


def _predictions(run: EmulatedRun) -> Predictions:
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


def _callback(run: EmulatedRun, name: str, *statuses: int) -> str:
    """A path of its own on the receiver, answering ``statuses`` (204 unless told)."""
    path = f"/dup-{name}-{secrets.token_hex(4)}"
    receiver(run).answer(path, *(statuses or (204,)))
    return receiver(run).url(path)


def _done_with_callback(run: EmulatedRun) -> contracts.Contract:
    """A predicted batch that named a callback: one batch.done delivery, attempted and delivered."""
    return msgspec.structs.replace(_predictions(run), callback_url=_callback(run, "done"))


def _dead_letter_with_callback(run: EmulatedRun) -> contracts.Contract:
    """A dead-lettered request of a batch never predicted: one batch.failed delivery, delivered."""
    request = prediction_request(f"dup-{secrets.token_hex(4)}", rows=3, offset=1050)
    return msgspec.structs.replace(request, callback_url=_callback(run, "failed"))


def _tick_with_a_retry_due(run: EmulatedRun) -> contracts.Contract:
    """A tick once a delivery's first attempt failed (500) and its retry is due: the tick delivers it.
    The stack's own ticker is paused (``pushed_ticks_only``), so the retry waits for this tick."""
    # Ticks published just before the ticker paused may still be on their way from the emulator.
    time.sleep(TICKS_IN_FLIGHT_SECONDS)
    message = msgspec.structs.replace(_predictions(run), callback_url=_callback(run, "retry", 500, 204))
    data = contracts.encode(message)
    attributes = {"schema_version": str(contracts.SCHEMA_VERSION), "batch_id": message.batch_id}
    status = run.push("batch_done_webhooks", data, attributes, f"dup-{secrets.token_hex(6)}")
    assert 200 <= status < 300, status
    identifier = webhook_deliveries.delivery_id(message.batch_id, webhook_deliveries.BATCH_DONE)
    with run.container.db.transaction() as session:
        row = session.get(WebhookDelivery, identifier)
        assert row is not None, "the delivery was not recorded"
        assert (row.state, row.attempt_count) == ("pending", 1), (row.state, row.history)
    return WebhookTick()


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
    "batch_done_webhooks": _done_with_callback,
    # Pushed straight to the function, as the emulator pushes a dead letter.
    "batch_failed_webhooks": _dead_letter_with_callback,
    "webhook_retries": _tick_with_a_retry_due,
}


def test_every_function_has_a_redelivery_case() -> None:
    assert set(MESSAGES) == set(topology.FUNCTIONS), (
        f"functions without a redelivery case: {sorted(set(topology.FUNCTIONS) - set(MESSAGES))}; "
        f"cases of no function: {sorted(set(MESSAGES) - set(topology.FUNCTIONS))}"
    )


@pytest.fixture
def pushed_ticks_only(emulated: EmulatedRun) -> Iterator[None]:
    """The stack's ticker stays quiet during a case, so a tick's effect is the pushed tick's and a
    retry prepared for it is still due when it arrives; it ticks again afterwards for later tests."""
    stack = emulated.stack
    ticker = stack.ticker
    if ticker is None:
        yield
        return
    ticker.stop()
    try:
        yield
    finally:
        stack.ticker = Ticker(ticker.publisher, ticker.seconds, ticker.topic).start()


@pytest.mark.parametrize("function", list(topology.FUNCTIONS))
@pytest.mark.usefixtures("pushed_ticks_only")
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
