"""`svmflow run` killed with SIGKILL (by its pid) while clients submit batches, then started again on
the same state directory: every batch the ingest API accepted (answered 202) reaches done; none is
lost, none stays pending, none fails. The figures are printed (run with `-s` to see them)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

from tests.api.conftest import FORGED, GENUINE, KEY
from tests.api.test_run_process import _wait_ready
from tests.conftest import free_ports

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = 4
ROWS = 5
# Accepted batches before the kill: enough that some are in every stage of the pipeline.
BEFORE_KILL = 60


def _status(url: str) -> str:
    request = urllib.request.Request(url)
    request.add_header("X-API-Key", KEY)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return str(json.loads(response.read())["status"])
    except urllib.error.HTTPError as error:
        return f"http {error.code}"


class Load:
    """Clients submitting batches until stopped; each remembers the ids it was answered 202 for."""

    def __init__(self, ingest: str) -> None:
        self.ingest = ingest
        self.accepted: list[str] = []
        self.refused: Counter[str] = Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(CLIENTS)]

    def _client(self, number: int) -> None:
        sent = 0
        while not self.stop.is_set():
            sent += 1
            body = {
                "subjects": [f"c{number}-{sent}-{i}" for i in range(ROWS)],
                "features": [GENUINE if i % 2 else FORGED for i in range(ROWS)],
            }
            request = urllib.request.Request(
                f"{self.ingest}/v1/batches", data=json.dumps(body).encode(), method="POST"
            )
            request.add_header("X-API-Key", KEY)
            request.add_header("Content-Type", "application/json")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    batch_id = json.loads(response.read())["batch_id"]
                    assert response.status == 202
                with self.lock:
                    self.accepted.append(batch_id)
            except urllib.error.HTTPError as error:
                with self.lock:
                    self.refused[f"http {error.code}"] += 1
            except (urllib.error.URLError, ConnectionError, OSError, ValueError):
                with self.lock:
                    self.refused["no answer"] += 1
                time.sleep(0.05)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(20)


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "svmflow", "run"],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def test_kill_9_under_load_then_restart_loses_nothing(tmp_path: Path) -> None:
    ingest_port, predict_port, redis_port = free_ports(3)
    env = {
        **os.environ,
        "SVMFLOW_STATE_DIR": str(tmp_path / "state"),
        "SVMFLOW_INGEST_PORT": str(ingest_port),
        "SVMFLOW_PREDICT_PORT": str(predict_port),
        "SVMFLOW_EMBEDDED_REDIS_PORT": str(redis_port),
        "SVMFLOW_LOG_LEVEL": "WARNING",
        # What was in flight at the kill is delivered again when its lease runs out: seconds here
        # rather than the default minute, which the test would otherwise spend waiting. A delivery
        # still running when its lease ends is delivered twice, which the pipeline absorbs.
        "SVMFLOW_EMBEDDED_ACK_DEADLINE_SECONDS": "5",
    }
    for name in ("SVMFLOW_SECRET_API_KEYS", "SVMFLOW_MODE"):
        env.pop(name, None)
    ingest, predict = f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{predict_port}"
    log = tmp_path / "run.log"
    first = _start(env, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        _wait_ready(f"{predict}/readyz", first, timeout=120)  # type: ignore[arg-type]
        _wait_ready(f"{ingest}/readyz", first, timeout=10)  # type: ignore[arg-type]
        with Load(ingest) as load:
            deadline = time.monotonic() + 60
            while len(load.accepted) < BEFORE_KILL:
                assert time.monotonic() < deadline, f"only {len(load.accepted)} batches accepted in 60 s"
                time.sleep(0.02)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(30)
            accepted_at_kill = len(load.accepted)
            second = _start(env, log)
            _wait_ready(f"{predict}/readyz", second, timeout=120)  # type: ignore[arg-type]
            _wait_ready(f"{ingest}/readyz", second, timeout=10)  # type: ignore[arg-type]
            # Load goes on against the restarted system for a moment.
            more = len(load.accepted) + 20
            deadline = time.monotonic() + 60
            while len(load.accepted) < more and time.monotonic() < deadline:
                time.sleep(0.02)

        outcome: dict[str, str] = {}
        deadline = time.monotonic() + 180
        waiting = list(load.accepted)
        while waiting and time.monotonic() < deadline:
            for batch_id in waiting:
                outcome[batch_id] = _status(f"{predict}/v1/batches/{batch_id}")
            waiting = [b for b in waiting if outcome[b] == "pending"]
            if waiting:
                time.sleep(0.5)
        counts = Counter(outcome.values())
        # Lost: an accepted batch the system no longer knows (anything but done, failed or pending).
        lost = len(load.accepted) - counts["done"] - counts["failed"] - counts["pending"]
        print(
            f"\nkill -9 under load: accepted {len(load.accepted)} ({accepted_at_kill} before the kill), "
            f"done {counts['done']}, failed {counts['failed']}, lost {lost}, "
            f"stuck pending {counts['pending']}; not accepted: {dict(load.refused)}"
        )
        assert counts["done"] == len(load.accepted), counts
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
