"""A batch whose prediction request is dead-lettered is `failed` with the reason; an operator lists the
dead letter and replays it through the predict API, and the batch is pending, then done. Embedded
runtime: the bus dead-letters after its attempts, the functions record and replay."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import fakeredis
import pytest
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.wiring import backend_of
from svmflow import operations
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.runtime.embedded_bus import EmbeddedBus
from tests.api.conftest import PREDICT_URL, batch, make_settings

USER = {"X-API-Key": "plain-key"}
OPERATOR = {"X-API-Key": "boss-key"}


class Stack:
    def __init__(self, container: Container, bus: EmbeddedBus, ingest: TestClient, predict: TestClient):
        self.container, self.bus, self.ingest, self.predict = container, bus, ingest, predict


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = make_settings(tmp_path_factory.mktemp("dead-letters"), max_delivery_attempts=3)
    bus = EmbeddedBus(settings.bus_path, max_attempts=3, min_backoff=0.02, max_backoff=0.1)
    container = Container(
        settings,
        bus=bus,
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        secrets=EnvSecrets({"SVMFLOW_SECRET_API_KEYS": "plain-key,operator:boss-key"}),
    )
    container.subscribe_all(bus)
    bus.start(2)
    operations.seed(container)
    assert operations.train(container).decision == "promoted"
    bus.drain(timeout=60)
    with (
        TestClient(create_ingest_app(backend_of(container), predict_url=PREDICT_URL)) as ingest,
        TestClient(create_predict_app(backend_of(container), predict_url=PREDICT_URL)) as predict,
    ):
        yield Stack(container, bus, ingest, predict)
    bus.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def dead_lettered_batch(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> str:
    """Submit a batch while the model cannot be loaded: the bus gives up after its attempts."""
    server = stack.container.models

    def broken() -> Any:
        raise RuntimeError("model store unreachable")

    monkeypatch.setattr(server, "current", broken)
    response = stack.ingest.post("/v1/batches", json=batch(3), headers=USER)
    assert response.status_code == 202, response.text
    batch_id: str = response.json()["batch_id"]
    stack.bus.drain(timeout=60)
    monkeypatch.undo()  # the cause is fixed
    return batch_id


def test_a_dead_lettered_batch_fails_then_an_operator_replay_makes_it_pending_then_done(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id = dead_lettered_batch(stack, monkeypatch)

    failed = stack.predict.get(f"/v1/batches/{batch_id}", headers=USER)
    assert failed.status_code == 200
    body = failed.json()
    assert body["status"] == "failed"
    assert "dead-lettered after 3 attempts" in body["reason"]
    assert "model store unreachable" in body["reason"]
    listed = stack.predict.get("/v1/batches", headers=USER).json()["items"]
    assert {"batch_id": batch_id, "status": "failed"}.items() <= next(
        item for item in listed if item["batch_id"] == batch_id
    ).items()
    # Rating a failed batch is a conflict that says why.
    rating = stack.predict.patch(
        f"/v1/batches/{batch_id}", json={"subjects": ["x"], "ratings": [1]}, headers=USER
    )
    assert rating.status_code == 409
    assert "failed" in rating.json()["detail"]

    letters = stack.predict.get("/v1/dead-letters", headers=OPERATOR).json()["items"]
    [letter] = [d for d in letters if d["batch_id"] == batch_id]
    assert letter["topic"] == "prediction-requests"
    assert letter["function"] == "prediction"
    assert letter["delivery_attempts"] == 3
    assert letter["message_id"] == body["dead_letter_id"]

    # The failure is in the database too, so a rebuild of the read model restores it.
    stack.container.read_model.clear()
    operations.rebuild_read_model(stack.container)
    assert stack.predict.get(f"/v1/batches/{batch_id}", headers=USER).json()["status"] == "failed"

    # Hold the prediction back a moment to see the batch pending between the replay and its result.
    stack.bus.stop()
    replay = stack.predict.post(f"/v1/dead-letters/{letter['message_id']}/replay", headers=OPERATOR)
    assert replay.status_code == 202, replay.text
    assert replay.json() == {
        "message_id": letter["message_id"],
        "topic": "prediction-requests",
        "status": "accepted",
    }
    replay_only = EmbeddedBus(stack.container.settings.bus_path)
    replay_only.subscribe("dead-letter-replay-sub", stack.container.processor("dead_letter_replay").process)
    wait_for(lambda: replay_only.deliver_one(), "the replay command")
    replay_only.stop()
    pending = stack.predict.get(f"/v1/batches/{batch_id}", headers=USER)
    assert pending.status_code == 202
    assert pending.json()["status"] == "pending"
    assert all(
        d["message_id"] != letter["message_id"]
        for d in stack.predict.get("/v1/dead-letters", headers=OPERATOR).json()["items"]
    )

    stack.bus.start(2)
    stack.bus.drain(timeout=60)
    done = stack.predict.get(f"/v1/batches/{batch_id}", headers=USER)
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert len(done.json()["results"]) == 3
    assert stack.container.dead_letters.list_dead_letters() == []
    # A late redelivery of the old dead letter cannot fail the batch again.
    operations.rebuild_read_model(stack.container)
    assert stack.predict.get(f"/v1/batches/{batch_id}", headers=USER).json()["status"] == "done"


def test_dead_letters_are_for_operators_only(stack: Stack) -> None:
    listing = stack.predict.get("/v1/dead-letters", headers=USER)
    assert listing.status_code == 403
    assert "operator" in listing.json()["detail"]
    replay = stack.predict.post("/v1/dead-letters/anything/replay", headers=USER)
    assert replay.status_code == 403
    missing = stack.predict.post("/v1/dead-letters/no-such-letter/replay", headers=OPERATOR)
    assert missing.status_code == 404
    assert missing.json()["field"] == "message_id"
