"""Completion webhooks over the emulated stack: real Pub/Sub push to each function's process, real
Postgres and Redis, the stack's tick, and an HTTPS receiver on loopback checking every signature
with the ``standardwebhooks`` reference library."""

from __future__ import annotations

import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import standardwebhooks

from tests.builders import _ROWS
from tests.emulated_harness import EmulatedRun, wait_until
from tests.https_receiver import Receiver

pytestmark = pytest.mark.e2e

RUN = 200


def receiver_of(run: EmulatedRun) -> Receiver:
    assert run.receiver is not None
    return run.receiver


def submit(run: EmulatedRun, callback: str, offset: int) -> str:
    tag = secrets.token_hex(3)
    body = {
        "subjects": [f"{tag}-{i}" for i in range(2)],
        "features": [list(r.features) for r in _ROWS[offset : offset + 2]],
        "callback_url": callback,
    }
    status, answer, _ = run.client.call("POST", f"{run.stack.ingest_url}/v1/batches", body)
    assert status == 202, answer
    return str(answer["batch_id"])


def test_a_webhook_arrives_for_every_batch_of_a_run_none_twice(emulated: EmulatedRun) -> None:
    receiver = receiver_of(emulated)
    receiver.answer("/emulated-run", 204)
    url = receiver.url("/emulated-run")
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        batch_ids = list(pool.map(lambda i: submit(emulated, url, (i * 2) % 1000), range(RUN)))
    wait_until(lambda: len(receiver.on("/emulated-run")) >= RUN, 180, f"{RUN} webhooks", interval=0.2)
    print(f"\n{RUN} batches ingested to notified: {time.monotonic() - started:.1f} s")
    time.sleep(2)  # a few more ticks: nothing may arrive twice
    received = receiver.on("/emulated-run")
    secret = emulated.secret_values["webhook-secret"]
    notified = [standardwebhooks.Webhook(secret).verify(r.body.decode(), r.headers) for r in received]
    assert sorted(p["data"]["batch_id"] for p in notified) == sorted(batch_ids)
    assert len({r.headers["webhook-id"] for r in received}) == RUN


def test_retries_cross_processes_and_are_listed(emulated: EmulatedRun) -> None:
    receiver = receiver_of(emulated)
    receiver.answer("/emulated-flaky", 500, 500, 200)
    batch_id = submit(emulated, receiver.url("/emulated-flaky"), 0)

    def settled() -> dict[str, object] | None:
        status, answer, _ = emulated.client.call(
            "GET", f"{emulated.stack.predict_url}/v1/batches/{batch_id}/deliveries"
        )
        assert status == 200, answer
        found = answer["deliveries"]
        return found[0] if found and found[0]["state"] != "pending" else None

    delivery = wait_until(settled, 60, "the delivery to settle", interval=0.2)
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]  # type: ignore[index]
    assert len(receiver.on("/emulated-flaky")) == 3
    assert json.loads(receiver.on("/emulated-flaky")[-1].body)["data"]["batch_id"] == batch_id
