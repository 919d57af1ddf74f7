"""Input drift end to end in embedded mode: batches posted to the ingest API are predicted, the drift
monitor counts them window by window, a shifted feature raises the event and the alert's log line, and
the predict API serves the figures."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fakeredis
import numpy as np
import pytest
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.wiring import backend_of
from svmflow import contracts, operations, topology
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import DriftEvent
from svmflow.domain.training import read_seed_csv
from svmflow.runtime.embedded_bus import EmbeddedBus
from tests.builders import DATA

AUTH = {"X-API-Key": "dev-local-key"}
WINDOW = 200
BATCH = 50
ROWS = np.asarray([r.features for r in read_seed_csv(DATA)], dtype=np.float64)


@dataclass
class DriftEvents:
    """Passes every message on to the bus and keeps the drift events (nothing subscribes to them in
    the embedded system: they are for consumers outside it)."""

    bus: EmbeddedBus
    events: list[DriftEvent] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> Future[str]:
        if topic == topology.DRIFT_EVENTS:
            with self._lock:
                self.events.append(contracts.decode(data, DriftEvent))
        return self.bus.publish(topic, data, attributes)


@dataclass
class System:
    container: Container
    bus: EmbeddedBus
    drift: DriftEvents
    ingest: TestClient
    predict: TestClient


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    settings = Settings(state_dir=tmp_path / "state", model_refresh_seconds=0.0, drift_window=WINDOW)
    bus = EmbeddedBus(settings.bus_path, max_attempts=3, min_backoff=0.02)
    drift = DriftEvents(bus)
    container = Container(
        settings,
        bus=bus,
        publisher=drift,
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        secrets=EnvSecrets({}),
    )
    container.subscribe_all(bus)
    bus.start(2)
    try:
        operations.seed(container)
        assert operations.train(container).decision == "promoted"
        bus.drain(timeout=60)
        with (
            TestClient(create_ingest_app(backend_of(container), predict_url="http://predict.test")) as ingest,
            TestClient(
                create_predict_app(backend_of(container), predict_url="http://predict.test")
            ) as predict,
        ):
            yield System(container, bus, drift, ingest, predict)
    finally:
        bus.stop()


def post_records(system: System, rng: np.random.Generator, batches: int, shift: dict[int, float]) -> None:
    """Batches of records drawn at random from the data set (it is sorted by class), maybe shifted."""
    for _ in range(batches):
        rows = ROWS[rng.integers(0, len(ROWS), BATCH)].copy()
        for column, offset in shift.items():
            rows[:, column] += offset
        prefix = uuid.uuid4().hex[:8]
        body = {"subjects": [f"{prefix}-{i}" for i in range(BATCH)], "features": rows.tolist()}
        response = system.ingest.post("/v1/batches", json=body, headers=AUTH)
        assert response.status_code == 202, response.text
    system.bus.drain(timeout=60)


def drift_of(system: System, version: str) -> dict[str, Any]:
    response = system.predict.get(f"/v1/models/{version}/drift", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_a_shifted_feature_raises_the_event_and_the_alert_line_and_the_api_serves_the_figures(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    current = system.container.read_model.current_model()
    assert current is not None
    version = current.version
    sd = float(np.std(ROWS[:, 2], ddof=1))
    rng = np.random.default_rng(7)

    # A known version before any record: no window, no figures.
    assert drift_of(system, version) == {
        "model_version": version,
        "window_size": WINDOW,
        "windows_closed": 0,
        "records_in_window": 0,
        "drifted": False,
        "updated_at": None,
        "features": [],
        "drifted_features": [],
        "window_closed_at": None,
        "alpha": None,
        "reference_rows": None,
        "revision": 0,
    }
    post_records(system, rng, 1, {})
    first = drift_of(system, version)
    assert (first["windows_closed"], first["records_in_window"], first["features"]) == (0, BATCH, [])
    assert first["updated_at"] is not None

    # Three windows of unshifted records: figures, and no alarm.
    with caplog.at_level(logging.WARNING):
        post_records(system, rng, 3 * WINDOW // BATCH - 1, {})
    quiet = drift_of(system, version)
    assert (quiet["windows_closed"], quiet["records_in_window"], quiet["drifted"]) == (3, 0, False)
    assert [f["name"] for f in quiet["features"]] == ["variance", "skewness", "curtosis", "entropy"]
    for figure in quiet["features"]:
        assert set(figure) >= {"name", "psi", "ks", "p_value", "drifted"}
        assert figure["drifted"] is False
        assert 0 <= figure["ks"] <= 1
        assert figure["psi"] >= 0
        assert 0 <= figure["p_value"] <= 1
    assert system.drift.events == []
    assert not [r for r in caplog.records if getattr(r, "event", None) == "input_drift"]

    # Half a standard deviation on one feature: caught within the next window.
    with caplog.at_level(logging.WARNING):
        post_records(system, rng, WINDOW // BATCH, {2: 0.5 * sd})
    [event] = system.drift.events
    assert (event.model_version, event.window, event.drifted_features) == (version, 4, ["curtosis"])
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "input_drift"]
    assert (line.model_version, line.features) == (version, ["curtosis"])  # type: ignore[attr-defined]
    drifted = drift_of(system, version)
    assert drifted["drifted"] is True
    assert drifted["windows_closed"] == 4
    assert drifted["drifted_features"] == ["curtosis"]
    curtosis = next(f for f in drifted["features"] if f["name"] == "curtosis")
    assert curtosis["drifted"] is True
    assert curtosis["p_value"] < drifted["alpha"] / 4
    assert drifted["updated_at"] >= first["updated_at"]
    assert system.bus.list_dead_letters() == []


def test_an_unknown_version_is_404_naming_it(system: System) -> None:
    response = system.predict.get("/v1/models/no-such-version/drift", headers=AUTH)
    assert response.status_code == 404
    problem = response.json()
    assert problem["field"] == "version"
    assert "no-such-version" in problem["detail"]
