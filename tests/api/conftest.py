"""Both APIs over the embedded runtime, in process: an EmbeddedBus in tmp with every processor
subscribed and its workers running, fakeredis, SQLite and a local bucket in tmp, and a promoted model.

The system is built once per session (seeding and the first training take a few seconds); tests use
their own subjects and batches, so they do not depend on each other.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.wiring import backend_of
from svmflow import operations
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.runtime.embedded_bus import EmbeddedBus

KEY = "dev-local-key"
AUTH = {"X-API-Key": KEY}
PREDICT_URL = "http://predict.test"
# Four features per row, like the banknote data set the model is trained on.
GENUINE = [3.6216, 8.6661, -2.8073, -0.44699]
FORGED = [-1.3971, 3.3191, -1.3927, -1.9948]


@dataclass
class SpyPublisher:
    """Passes every message on to the real bus and remembers which topics were published to."""

    inner: Any
    topics: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> Future[str]:
        with self._lock:
            self.topics.append(topic)
        return self.inner.publish(topic, data, attributes)  # type: ignore[no-any-return]

    def count(self, topic: str) -> int:
        with self._lock:
            return self.topics.count(topic)


@dataclass
class System:
    container: Container
    bus: EmbeddedBus
    spy: SpyPublisher
    ingest: TestClient
    predict: TestClient

    def drain(self) -> None:
        self.bus.drain(timeout=60)

    def submit(self, rows: int = 2, **kwargs: Any) -> dict[str, Any]:
        response = self.ingest.post("/v1/batches", json=batch(rows), headers=AUTH, **kwargs)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    def submit_body(self, body: dict[str, Any]) -> dict[str, Any]:
        response = self.ingest.post("/v1/batches", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    def done(self, batch_id: str) -> dict[str, Any]:
        self.drain()
        response = self.predict.get(f"/v1/batches/{batch_id}", headers=AUTH)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def batch(rows: int = 2, prefix: str | None = None) -> dict[str, Any]:
    prefix = prefix or uuid.uuid4().hex[:8]
    return {
        "subjects": [f"{prefix}-{i}" for i in range(rows)],
        "features": [list(GENUINE if i % 2 == 0 else FORGED) for i in range(rows)],
    }


def make_settings(state_dir: Path, **changes: Any) -> Settings:
    # Small bulk chunks, so a small test file spans several of them.
    changes.setdefault("bulk_chunk_rows", 50)
    return Settings(state_dir=state_dir, model_refresh_seconds=0.0, **changes)


@pytest.fixture(scope="session")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    settings = make_settings(tmp_path_factory.mktemp("api-system"))
    bus = EmbeddedBus(settings.bus_path, max_attempts=settings.max_delivery_attempts, min_backoff=0.05)
    spy = SpyPublisher(bus)
    container = Container(
        settings,
        bus=bus,
        publisher=spy,
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        secrets=EnvSecrets({}),  # the documented local defaults, whatever the environment says
    )
    container.subscribe_all(bus)
    bus.start(2)
    operations.seed(container)
    event = operations.train(container)
    assert event is not None
    assert event.decision == "promoted"
    bus.drain(timeout=60)
    with (
        TestClient(create_ingest_app(backend_of(container), predict_url=PREDICT_URL)) as ingest,
        TestClient(create_predict_app(backend_of(container), predict_url=PREDICT_URL)) as predict,
    ):
        yield System(container, bus, spy, ingest, predict)
    bus.stop()
