"""Input drift end to end over the emulated stack: batches posted to the ingest API are predicted, the
drift monitor's own functions-framework process counts them window by window in Postgres, and a shifted
feature raises a DriftEvent on the emulator's ``drift-events`` topic, the alert's log line in that
process's output, and the figures on the predict API."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import numpy as np
import pytest
from google.api_core import exceptions
from google.cloud import pubsub_v1

from svmflow import contracts, topology
from svmflow.contracts import DriftEvent
from svmflow.handlers.drift_monitor import ALERT_EVENT
from tests.builders import _ROWS
from tests.emulated_harness import TUNING, EmulatedRun, wait_until

pytestmark = pytest.mark.e2e

WINDOW = int(TUNING["SVMFLOW_DRIFT_WINDOW"])
BATCH = WINDOW // 2
ROWS = np.asarray([r.features for r in _ROWS], dtype=np.float64)
SHIFTED = 2  # curtosis
SHIFTED_NAME = "curtosis"


class DriftEvents:
    """A pull subscription of its own on ``drift-events``: it sees what is published from its creation."""

    def __init__(self, run: EmulatedRun) -> None:
        project = run.stack.config.project
        self.subscriber = pubsub_v1.SubscriberClient()
        self.path = self.subscriber.subscription_path(project, f"drift-events-e2e-{secrets.token_hex(4)}")
        topic = pubsub_v1.PublisherClient.topic_path(project, topology.DRIFT_EVENTS)
        self.subscriber.create_subscription(request={"name": self.path, "topic": topic})
        self.received: list[DriftEvent] = []

    def pull(self, seconds: float = 1.0) -> list[DriftEvent]:
        """Everything received so far; a pull on an empty subscription waits out its deadline."""
        try:
            response = self.subscriber.pull(
                request={"subscription": self.path, "max_messages": 10}, timeout=seconds, retry=None
            )
        except exceptions.DeadlineExceeded:
            return self.received
        if response.received_messages:
            self.received += [
                contracts.decode(m.message.data, DriftEvent) for m in response.received_messages
            ]
            self.subscriber.acknowledge(
                request={"subscription": self.path, "ack_ids": [m.ack_id for m in response.received_messages]}
            )
        return self.received

    def close(self) -> None:
        self.subscriber.delete_subscription(request={"subscription": self.path})
        self.subscriber.close()


def drift_of(run: EmulatedRun, version: str) -> dict[str, Any]:
    status, answer, _ = run.client.call("GET", f"{run.stack.predict_url}/v1/models/{version}/drift")
    assert status == 200, answer
    return answer  # type: ignore[no-any-return]


def post(run: EmulatedRun, rng: np.random.Generator, rows: int, shift: float = 0.0) -> None:
    """Records drawn at random from the data set (it is sorted by class), one feature maybe shifted."""
    chosen = ROWS[rng.integers(0, len(ROWS), rows)].copy()
    chosen[:, SHIFTED] += shift
    tag = secrets.token_hex(4)
    body = {"subjects": [f"drift-{tag}-{i}" for i in range(rows)], "features": chosen.tolist()}
    status, answer, _ = run.client.call("POST", f"{run.stack.ingest_url}/v1/batches", body)
    assert status == 202, answer


def closed(run: EmulatedRun, version: str, windows: int, timeout: float = 20) -> dict[str, Any]:
    """The version's figures once ``windows`` windows are closed (the read model is written last)."""

    def reached() -> dict[str, Any] | None:
        view = drift_of(run, version)
        return view if view["windows_closed"] >= windows else None

    return wait_until(reached, timeout, f"window {windows} of {version} to close")  # type: ignore[no-any-return]


def alert_lines(run: EmulatedRun, version: str) -> list[dict[str, Any]]:
    """The ``input_drift`` lines of the version in the drift monitor process's output."""
    path = run.stack.log_dir / "fn-drift_monitor.log"
    found = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:  # gunicorn's own lines are plain text
            continue
        if (
            isinstance(entry, dict)
            and entry.get("event") == ALERT_EVENT
            and entry.get("model_version") == version
        ):
            found.append(entry)
    return found


def test_a_shifted_feature_raises_the_event_and_the_alert_line_and_the_api_serves_the_figures(
    emulated: EmulatedRun,
) -> None:
    run = emulated
    started = time.monotonic()
    version = str(run.current_model()["version"])
    rng = np.random.default_rng(11)
    sd = float(np.std(ROWS[:, SHIFTED], ddof=1))

    # Earlier tests of the session may have left records (some shifted) in the open window: clean
    # records fill it, so the windows below hold this test's records only.
    before = drift_of(run, version)
    if before["records_in_window"]:
        post(run, rng, WINDOW - before["records_in_window"])
        before = closed(run, version, before["windows_closed"] + 1)
    assert before["records_in_window"] == 0, before
    base = before["windows_closed"]

    events = DriftEvents(run)
    try:
        # Two windows of unshifted records: figures, and no alarm.
        for _ in range(2 * WINDOW // BATCH):
            post(run, rng, BATCH)
        quiet = closed(run, version, base + 2)
        assert (quiet["windows_closed"], quiet["records_in_window"]) == (base + 2, 0), quiet
        assert quiet["drifted"] is False, quiet
        assert [f["name"] for f in quiet["features"]] == ["variance", "skewness", "curtosis", "entropy"]
        assert not any(f["drifted"] for f in quiet["features"]), quiet["features"]
        assert events.pull() == []
        assert [e for e in alert_lines(run, version) if e["window"] > base] == []

        # One standard deviation on one feature: caught within the next window.
        for _ in range(WINDOW // BATCH):
            post(run, rng, BATCH, shift=sd)
        drifted = closed(run, version, base + 3)
        [event] = wait_until(events.pull, 10, "a drift event on drift-events", interval=0)
    finally:
        events.close()
    assert (event.model_version, event.window, event.window_size) == (version, base + 3, WINDOW)
    assert event.event_id == f"{version}/{base + 3}"
    assert event.drifted_features == [SHIFTED_NAME]

    [line] = wait_until(
        lambda: [e for e in alert_lines(run, version) if e["window"] > base], 5, "the input_drift log line"
    )
    assert (line["window"], line["features"], line["severity"]) == (base + 3, [SHIFTED_NAME], "WARNING")
    assert set(line["p_values"]) == {SHIFTED_NAME}

    assert (drifted["windows_closed"], drifted["records_in_window"]) == (base + 3, 0), drifted
    assert drifted["drifted"] is True
    assert drifted["drifted_features"] == [SHIFTED_NAME]
    figures = {f["name"]: f for f in drifted["features"]}
    assert figures[SHIFTED_NAME]["drifted"] is True
    assert figures[SHIFTED_NAME]["p_value"] < drifted["alpha"] / len(figures)
    assert [name for name, f in figures.items() if f["drifted"]] == [SHIFTED_NAME]
    print(f"\nclean windows to drift alarm, end to end: {time.monotonic() - started:.1f} s")
