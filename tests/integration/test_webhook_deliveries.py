"""Completion webhooks through real PostgreSQL and Redis: concurrent callers make one attempt per due
retry (the claim is one conditional UPDATE), retries after 500s end delivered with every attempt in
the read model, and an older projection never replaces a newer one (the Lua script on real Redis)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec
import pytest
import standardwebhooks

from svmflow import webhook_deliveries
from svmflow.adapters.secrets import EnvSecrets
from svmflow.contracts import WebhookTick
from svmflow.handlers import webhook_retries
from svmflow.messaging import EventContext
from svmflow.views import BatchDeliveries
from svmflow.webhooks import schedule, signing
from svmflow.webhooks.urls import UrlPolicy
from tests.https_receiver import Receiver, https_receiver
from tests.stores import Stores, real_stores

pytestmark = pytest.mark.integration

SECRET = signing.new_secret()


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with real_stores() as found:
        yield found


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with https_receiver() as found:
        yield found


def sender(receiver: Receiver) -> webhook_deliveries.Sender:
    return webhook_deliveries.Sender(
        secrets=EnvSecrets({"SVMFLOW_SECRET_WEBHOOK_SECRET": SECRET}),
        policy=UrlPolicy(allow_loopback=True),
        retry_scale=0.0,
        tls=receiver.client_context(),
    )


def tick_from_threads(stores: Stores, send: webhook_deliveries.Sender, threads: int) -> None:
    start = threading.Barrier(threads)

    def tick() -> None:
        start.wait()
        webhook_retries.handle(
            WebhookTick(),
            EventContext("t", {}),
            db=stores.db,
            read_model=stores.read_model,
            webhook_sender=send,
        )

    running = [threading.Thread(target=tick) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(60)


def test_concurrent_ticks_make_each_attempt_once(stores: Stores, receiver: Receiver) -> None:
    receiver.answer("/pg-race", 500, 200)
    send = sender(receiver)
    batches = [f"pg-race-{i}" for i in range(10)]
    for batch_id in batches:
        webhook_deliveries.record(
            stores.db,
            batch_id,
            webhook_deliveries.BATCH_DONE,
            receiver.url("/pg-race"),
            '{"n":1}',
            datetime.now(UTC),
        )
    for _ in range(3):
        tick_from_threads(stores, send, threads=4)
    received = receiver.on("/pg-race")
    # The first attempt overall answers 500 and is retried; every other is delivered at once.
    assert len(received) == len(batches) + 1
    for batch_id in batches:
        body = stores.read_model.deliveries_json(batch_id)
        assert body is not None
        (listed,) = msgspec.json.decode(body, type=BatchDeliveries).deliveries
        assert listed.state == "delivered"
    for r in received:
        standardwebhooks.Webhook(SECRET).verify(r.body.decode(), r.headers)


def test_dead_lettered_after_the_last_attempt_on_postgres(stores: Stores, receiver: Receiver) -> None:
    receiver.answer("/pg-down", 503)
    send = sender(receiver)
    webhook_deliveries.record(
        stores.db,
        "pg-down",
        webhook_deliveries.BATCH_FAILED,
        receiver.url("/pg-down"),
        "{}",
        datetime.now(UTC),
    )
    for _ in range(len(schedule.SPEC_DELAYS_SECONDS) + 2):
        tick_from_threads(stores, send, threads=2)
    body = stores.read_model.deliveries_json("pg-down")
    assert body is not None
    (listed,) = msgspec.json.decode(body, type=BatchDeliveries).deliveries
    assert listed.state == "failed"
    assert [a.status for a in listed.attempts] == [503] * len(schedule.SPEC_DELAYS_SECONDS)
    assert len(receiver.on("/pg-down")) == len(schedule.SPEC_DELAYS_SECONDS)


def test_an_older_projection_never_replaces_a_newer_one(stores: Stores) -> None:
    newer = BatchDeliveries(batch_id="pg-rank", deliveries=[])
    older = BatchDeliveries(batch_id="pg-rank", deliveries=[])
    assert stores.read_model.put_deliveries(newer, revision=2_000)
    assert not stores.read_model.put_deliveries(older, revision=1_000)
    assert stores.read_model.client.ttl(stores.read_model._key("deliveries", "pg-rank")) > 0
