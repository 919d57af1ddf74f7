"""Completion webhooks end to end in embedded mode: both APIs, the bus with every processor, the
scheduler's tick, and a real HTTPS receiver on loopback that checks signatures with the
``standardwebhooks`` reference library. The retry schedule is compressed so a run takes seconds."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fakeredis
import pytest
import standardwebhooks
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.batch_ids import BatchIds
from api.wiring import backend_of
from svmflow import operations, topology
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import PredictionRequest
from svmflow.messaging import publish
from svmflow.runtime.embedded_bus import EmbeddedBus
from svmflow.runtime.ticker import Ticker
from svmflow.webhooks import schedule, signing
from tests.https_receiver import Receiver, https_receiver

KEY = "dev-local-key"
AUTH = {"X-API-Key": KEY}
IDENTITY = hashlib.sha256(KEY.encode()).hexdigest()[:32]
GENUINE = [3.6216, 8.6661, -2.8073, -0.44699]
FORGED = [-1.3971, 3.3191, -1.3927, -1.9948]
# The whole schedule (about 27.6 hours) in about two seconds.
RETRY_SCALE = 0.00002
NEW_SECRET, OLD_SECRET = signing.new_secret(), signing.new_secret()


@dataclass
class WebhookSystem:
    container: Container
    bus: EmbeddedBus
    receiver: Receiver
    ingest: TestClient
    predict: TestClient

    def submit(self, callback: str | None, rows: int = 2) -> str:
        body: dict[str, Any] = batch(rows)
        if callback is not None:
            body["callback_url"] = callback
        response = self.ingest.post("/v1/batches", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        return str(response.json()["batch_id"])

    def deliveries(self, batch_id: str) -> dict[str, Any]:
        response = self.predict.get(f"/v1/batches/{batch_id}/deliveries", headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def settled(self, batch_id: str, timeout: float = 20.0) -> dict[str, Any]:
        """The batch's single delivery once it is no longer pending."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.deliveries(batch_id)["deliveries"]
            if found and found[0]["state"] != "pending":
                assert len(found) == 1
                return found[0]  # type: ignore[no-any-return]
            assert time.monotonic() < deadline, f"still pending: {found}"
            time.sleep(0.05)


def batch(rows: int) -> dict[str, Any]:
    prefix = uuid.uuid4().hex[:8]
    return {
        "subjects": [f"{prefix}-{i}" for i in range(rows)],
        "features": [list(GENUINE if i % 2 == 0 else FORGED) for i in range(rows)],
    }


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebhookSystem]:
    state = tmp_path_factory.mktemp("webhooks")
    with https_receiver() as receiver:
        ca_file = state / "receiver-ca.pem"
        ca_file.write_bytes(receiver.ca_pem)
        settings = Settings(
            state_dir=state,
            model_refresh_seconds=0.0,
            webhook_allow="loopback",  # the receiver is on 127.0.0.1; nothing else is allowed
            webhook_retry_scale=RETRY_SCALE,
            webhook_ca_file=str(ca_file),
            webhook_key_urls=f"{IDENTITY}={receiver.url('/key-default')}",
        )
        bus = EmbeddedBus(settings.bus_path, max_attempts=3, min_backoff=0.02, max_backoff=0.1)
        # Mid-rotation: the new and the old secret both sign.
        secrets = EnvSecrets({"SVMFLOW_SECRET_WEBHOOK_SECRET": f"{NEW_SECRET} {OLD_SECRET}"})
        container = Container(
            settings, bus=bus, redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()), secrets=secrets
        )
        container.subscribe_all(bus)
        bus.start(4)
        ticker = Ticker(bus, 0.05)
        try:
            operations.seed(container)
            event = operations.train(container)
            assert event is not None
            assert event.decision == "promoted"
            bus.drain(60)
            ticker.start()
            with (
                TestClient(
                    create_ingest_app(backend_of(container), predict_url="http://predict.test")
                ) as ingest,
                TestClient(
                    create_predict_app(backend_of(container), predict_url="http://predict.test")
                ) as predict,
            ):
                yield WebhookSystem(container, bus, receiver, ingest, predict)
        finally:
            ticker.stop()
            bus.stop()


def verified(received_body: bytes, headers: dict[str, str]) -> dict[str, Any]:
    """Verified with each secret of the rotation by the reference library; returns the payload."""
    payloads = [
        standardwebhooks.Webhook(secret).verify(received_body.decode(), headers)
        for secret in (NEW_SECRET, OLD_SECRET)
    ]
    assert payloads[0] == payloads[1]
    return payloads[0]  # type: ignore[no-any-return]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_done_batch_is_notified_signed_and_its_delivery_listed(system: WebhookSystem) -> None:
    system.receiver.answer("/done", 204)
    batch_id = system.submit(system.receiver.url("/done"), rows=3)
    delivery = system.settled(batch_id)

    (received,) = system.receiver.on("/done")
    payload = verified(received.body, received.headers)
    assert payload["type"] == "batch.done"
    assert payload["data"]["batch_id"] == batch_id
    assert payload["data"]["status"] == "done"
    assert payload["data"]["record_count"] == 3
    assert len(received.headers["webhook-signature"].split(" ")) == 2  # one per secret
    assert received.headers["webhook-id"] == delivery["id"]

    assert delivery["url"] == system.receiver.url("/done")
    assert (delivery["event"], delivery["state"], delivery["next_attempt_at"]) == (
        "batch.done",
        "delivered",
        None,
    )
    (attempt,) = delivery["attempts"]
    assert (attempt["status"], attempt["error"]) == (204, None)
    assert attempt["duration_ms"] > 0
    assert datetime.fromisoformat(attempt["at"]) <= datetime.now(UTC)
    listing = system.deliveries(batch_id)
    assert listing["batch_id"] == batch_id
    assert set(listing["deliveries"][0]) == {"id", "url", "event", "state", "attempts", "next_attempt_at"}


def test_a_receiver_failing_twice_gets_retries_until_it_answers(system: WebhookSystem) -> None:
    system.receiver.answer("/flaky", 500, 503, 200)
    batch_id = system.submit(system.receiver.url("/flaky"))
    delivery = system.settled(batch_id)
    assert delivery["state"] == "delivered"
    assert [a["status"] for a in delivery["attempts"]] == [500, 503, 200]
    assert [a["error"] for a in delivery["attempts"]] == ["HTTP 500", "HTTP 503", None]
    moments = [datetime.fromisoformat(a["at"]) for a in delivery["attempts"]]
    assert moments == sorted(moments)
    received = system.receiver.on("/flaky")
    assert len(received) == 3
    assert {r.headers["webhook-id"] for r in received} == {delivery["id"]}  # one message, retried
    for r in received:
        assert verified(r.body, r.headers)["data"]["batch_id"] == batch_id


def test_a_410_disables_the_endpoint_for_later_batches_too(system: WebhookSystem) -> None:
    system.receiver.answer("/gone", 410)
    first = system.settled(system.submit(system.receiver.url("/gone")))
    assert first["state"] == "disabled"
    assert [a["status"] for a in first["attempts"]] == [410]
    later = system.settled(system.submit(system.receiver.url("/gone")))
    assert (later["state"], later["attempts"]) == ("disabled", [])
    assert len(system.receiver.on("/gone")) == 1


def test_dead_lettered_after_the_last_attempt(system: WebhookSystem) -> None:
    system.receiver.answer("/down", 500)
    delivery = system.settled(system.submit(system.receiver.url("/down")), timeout=30)
    assert delivery["state"] == "failed"
    assert delivery["next_attempt_at"] is None
    assert len(delivery["attempts"]) == len(schedule.SPEC_DELAYS_SECONDS)
    assert len(system.receiver.on("/down")) == len(schedule.SPEC_DELAYS_SECONDS)


def test_a_key_without_a_callback_url_uses_its_default(system: WebhookSystem) -> None:
    system.receiver.answer("/key-default", 200)
    batch_id = system.submit(None)
    assert system.settled(batch_id)["state"] == "delivered"
    assert [verified(r.body, r.headers)["data"]["batch_id"] for r in system.receiver.on("/key-default")] == [
        batch_id
    ]


def test_a_failed_batch_is_notified_with_the_reason(system: WebhookSystem) -> None:
    system.receiver.answer("/failed", 200)
    batch_id = BatchIds(system.container.secrets).issue()
    # Three features where the model expects four: the prediction function dead-letters it.
    request = PredictionRequest(
        batch_id=batch_id,
        subjects=["a"],
        features=[[1.0, 2.0, 3.0]],
        submitted_at=datetime.now(UTC),
        callback_url=system.receiver.url("/failed"),
    )
    publish(system.bus, topology.PREDICTION_REQUESTS, request, batch_id=batch_id)
    delivery = system.settled(batch_id)
    assert (delivery["event"], delivery["state"]) == ("batch.failed", "delivered")
    (received,) = system.receiver.on("/failed")
    payload = verified(received.body, received.headers)
    assert payload["data"]["status"] == "failed"
    assert "expects 4 features" in payload["data"]["reason"]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1/hook", "https"),
        ("https://10.0.0.1/hook", "private"),
        ("https://169.254.169.254/computeMetadata/v1/", "link-local"),
        ("https://[::ffff:192.168.0.1]/hook", "private"),
        ("https://2130706433/hook", "number in disguise"),
        ("https://metadata.google.internal/", "internal"),
    ],
)
def test_unsafe_callback_urls_are_refused_at_registration(system: WebhookSystem, url: str, said: str) -> None:
    body = {**batch(1), "callback_url": url}
    response = system.ingest.post("/v1/batches", json=body, headers=AUTH)
    assert response.status_code == 400
    problem = response.json()
    assert problem["field"] == "callback_url"
    assert said in problem["detail"]


def test_every_batch_of_a_run_is_notified_once(system: WebhookSystem) -> None:
    system.receiver.answer("/run", 200)
    batch_ids = [system.submit(system.receiver.url("/run")) for _ in range(40)]
    system.bus.drain(60)
    wait_for(lambda: len(system.receiver.on("/run")) >= len(batch_ids))
    time.sleep(0.3)  # a few more ticks: nothing may arrive twice
    received = system.receiver.on("/run")
    notified = [json.loads(r.body)["data"]["batch_id"] for r in received]
    assert sorted(notified) == sorted(batch_ids)
    assert len({r.headers["webhook-id"] for r in received}) == len(batch_ids)


def test_a_batch_without_a_callback_lists_no_deliveries(system: WebhookSystem) -> None:
    batch_id = BatchIds(system.container.secrets).issue()
    assert system.deliveries(batch_id) == {"batch_id": batch_id, "deliveries": []}


def test_a_rebuilt_read_model_lists_the_same_deliveries(system: WebhookSystem) -> None:
    system.receiver.answer("/rebuilt", 500, 200)
    batch_id = system.submit(system.receiver.url("/rebuilt"))
    before = system.settled(batch_id)
    assert len(before["attempts"]) == 2
    system.container.read_model.clear()
    assert system.deliveries(batch_id)["deliveries"] == []
    counts = operations.rebuild_read_model(system.container)
    assert counts["webhooks"] >= 1
    assert system.deliveries(batch_id)["deliveries"] == [before]
