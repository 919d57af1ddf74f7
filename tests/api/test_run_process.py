"""`make run`'s process: `.venv/bin/svmflow run` starts both APIs over the embedded runtime, serves a
batch end to end and the demo against it, and stops cleanly on Ctrl-C (SIGINT) with exit code 0 and no
process left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import FORGED, GENUINE, KEY
from tests.conftest import free_ports

ROOT = Path(__file__).resolve().parents[2]


def _call(method: str, url: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("X-API-Key", KEY)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return (
                response.status,
                json.loads(response.read()),
                {k.lower(): v for k, v in response.headers.items()},
            )
    except urllib.error.HTTPError as error:
        return (
            error.code,
            json.loads(error.read() or b"null"),
            {k.lower(): v for k, v in error.headers.items()},
        )


def _wait_ready(url: str, process: subprocess.Popen[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"svmflow run exited early:\n{process.communicate()[0][-4000:]}"
        try:
            if _call("GET", url)[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{url} not ready after {timeout} s")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def command() -> list[str]:
    uv = shutil.which("uv")
    # The README's command; without uv on PATH (an unusual test runner), the same entry point.
    return [uv, "run", "--frozen", "svmflow", "run"] if uv else [sys.executable, "-m", "svmflow", "run"]


def test_run_serves_both_apis_and_stops_cleanly_on_ctrl_c(tmp_path: Path, command: list[str]) -> None:
    ingest_port, predict_port, redis_port = free_ports(3)
    env = {
        **os.environ,
        "SVMFLOW_STATE_DIR": str(tmp_path / "state"),
        "SVMFLOW_INGEST_PORT": str(ingest_port),
        "SVMFLOW_PREDICT_PORT": str(predict_port),
        "SVMFLOW_EMBEDDED_REDIS_PORT": str(redis_port),
        "SVMFLOW_LOG_LEVEL": "WARNING",
    }
    env.pop("SVMFLOW_SECRET_API_KEYS", None)
    env.pop("SVMFLOW_MODE", None)
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, to check that nothing is left behind
    )
    ingest, predict = f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{predict_port}"
    try:
        _wait_ready(f"{predict}/readyz", process, timeout=120)
        _wait_ready(f"{ingest}/readyz", process, timeout=10)

        status, accepted, headers = _call(
            "POST", f"{ingest}/v1/batches", {"subjects": ["g", "f"], "features": [GENUINE, FORGED]}
        )
        assert status == 202, accepted
        assert headers["location"] == f"{predict}/v1/batches/{accepted['batch_id']}"
        deadline = time.monotonic() + 60
        while True:
            status, answer, _ = _call("GET", headers["location"])
            if status == 200:
                break
            assert status == 202, answer
            assert time.monotonic() < deadline, "batch still pending after 60 s"
            time.sleep(0.2)
        assert [r["label"] for r in answer["results"]] == [0, 1]

        # The demo walks the whole loop against the URLs it is given.
        demo = subprocess.run(
            [*command[:-1], "demo", "--ingest-url", ingest, "--predict-url", predict, "--api-key", KEY],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        for step in ("[1/6]", "[2/6]", "[3/6]", "[4/6]", "[5/6]", "[6/6]", "demo finished"):
            assert step in demo.stdout
        assert "-> 202" in demo.stdout
        assert "job job-labels-" in demo.stdout  # 60 ratings passed the retrain threshold

        # A local file is copied into the bucket and predicted in bulk, with a line for progress.
        notes = tmp_path / "notes.csv"
        notes.write_text("variance,skewness,curtosis,entropy\n" + "1,2,3,4\n" * 120 + "1,x,3,4\n")
        bulk = subprocess.run(
            [*command[:-1], "predict-file", str(notes), "--ingest-url", ingest, "--predict-url", predict],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert bulk.returncode == 0, bulk.stdout + bulk.stderr
        assert "120 rows predicted, 1 bad lines" in bulk.stdout
        assert "120/120 rows" in bulk.stderr  # the progress line: rows done of the total
        results = sorted((tmp_path / "state").rglob("bulk/notes.csv.out/*/results.csv"))
        assert len(results) == 1
        assert len(results[0].read_text().splitlines()) == 121  # the header and one line per row

        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    assert process.returncode == 0, output[-4000:]
    assert "Traceback" not in output
    assert f"ingest API   {ingest}" in output
    assert f"predict API  {predict}" in output
    assert "API key      dev-local-key" in output
    assert output.rstrip().endswith("stopped")
    deadline = time.monotonic() + 10
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(process.pid), "a process of the run is still alive"
    for port in (ingest_port, predict_port, redis_port):
        with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
            probe.connect(("127.0.0.1", port))
