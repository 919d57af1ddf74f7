"""The systems under test, each in processes of its own so the load generator does not share their GIL.

* ``embedded()``: ``svmflow run`` (both APIs, the bus and every processor in one process).
* ``emulated()``: the emulated stack (Pub/Sub emulator, fake-gcs-server, a functions-framework process
  per function, both APIs) on the machine's Redis and PostgreSQL, in a database and key prefix of its
  own that are removed afterwards.
* ``bare()``: the transport floor (``bench.bare_app``).

Starting the emulated stack takes tens of seconds, so the benchmarks of one run share each system:
``shared(name)`` starts it on first use and ``close_shared()`` (which every entry point calls in a
``finally``) stops everything. Should that be skipped, the children still end with the interpreter (see
``devstack.processes``), but the bench database would stay behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.common import ROOT
from devstack.processes import Child, free_port

API_KEY = "dev-local-key"  # the local default of the api-keys secret
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432")


@dataclass
class System:
    """Where a running system answers, and the processes whose CPU use says it is busy."""

    name: str
    ingest_port: int
    predict_port: int | None
    pids: list[int]

    def processes(self) -> list[psutil.Process]:
        found = []
        for pid in self.pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                parent = psutil.Process(pid)
                found += [parent, *parent.children(recursive=True)]
        return found

    def wait_quiet(self, busy_below: float = 15.0, timeout: float = 60.0, window: float = 0.3) -> float:
        """Wait until the system's processes together use less than ``busy_below`` percent of a core,
        so work queued by one measurement (a backlog of predictions) does not slow the next one.
        Returns the seconds waited."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            processes = self.processes()
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.cpu_percent(None)
            time.sleep(window)
            total = 0.0
            for process in processes:
                with contextlib.suppress(psutil.NoSuchProcess):
                    total += process.cpu_percent(None)
            if total < busy_below:
                break
        return time.monotonic() - started


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SVMFLOW_")}
    env.pop("PUBSUB_EMULATOR_HOST", None)
    env.update(extra)
    return env


@contextlib.contextmanager
def bare(workdir: Path) -> Iterator[System]:
    port = free_port()
    child = Child(
        "bare",
        [sys.executable, "-m", "bench.bare_app", "--port", str(port)],
        log_path=workdir / "bare.log",
        env=_env(),
        cwd=ROOT,
        port=port,
    ).start()
    try:
        child.wait_ready(30)
        yield System("bare", port, None, [child.pid or 0])
    finally:
        child.stop()


@contextlib.contextmanager
def embedded(workdir: Path, **settings: str) -> Iterator[System]:
    """``settings``: more environment for ``svmflow run`` (``SVMFLOW_TELEMETRY="otlp"``, say)."""
    ingest, predict = free_port(), free_port()
    env = _env(
        SVMFLOW_STATE_DIR=str(workdir / "state"),
        SVMFLOW_EMBEDDED_REDIS_PORT=str(free_port()),
        SVMFLOW_LOG_LEVEL="WARNING",
        **settings,
    )
    args = [sys.executable, "-m", "svmflow", "run", "--ingest-port", str(ingest)]
    args += ["--predict-port", str(predict)]
    child = Child("embedded", args, log_path=workdir / "embedded.log", env=env, cwd=ROOT, port=predict)
    child.start()
    try:
        # It trains its first model before it listens, which takes a few seconds.
        child.wait_ready(120)
        yield System("embedded", ingest, predict, [child.pid or 0])
    finally:
        child.stop(grace=10)


@contextlib.contextmanager
def emulated(workdir: Path) -> Iterator[System]:
    import psycopg
    import redis

    from devstack.stack import EmulatedStack, StackConfig

    run_id = secrets.token_hex(4)
    database = f"svmflow_bench_{run_id}"
    prefix = f"svmflow:bench:{run_id}:"
    admin_url = POSTGRES_URL.replace("+psycopg", "") + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    config = StackConfig(
        redis_url=REDIS_URL,
        database_url=f"{POSTGRES_URL}/{database}",
        run_dir=workdir / "stack",
        cache_prefix=prefix,
        env={"SVMFLOW_DATA_PATH": str(ROOT / "data" / "banknote.csv")},
    )
    stack = EmulatedStack(config)
    try:
        stack.start(timeout=180)
        stack.bootstrap_model()
        pids = [child.pid or 0 for child in stack.children()]
        yield System("emulated", stack.ingest_port, stack.predict_port, pids)
    finally:
        stack.stop()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        client = redis.Redis.from_url(REDIS_URL)
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)


FACTORIES: dict[str, Callable[[Path], AbstractContextManager[System]]] = {
    "embedded": embedded,
    "emulated": emulated,
}
_shared: dict[str, System] = {}
_exit = ExitStack()


def shared(name: str) -> System:
    """The system ``name`` (``embedded`` or ``emulated``), started on first use in this process."""
    if name not in _shared:
        workdir = Path(_exit.enter_context(tempfile.TemporaryDirectory(prefix=f"svmflow-bench-{name}-")))
        print(f"   starting the {name} system ...", flush=True)
        started = time.monotonic()
        _shared[name] = _exit.enter_context(FACTORIES[name](workdir))
        print(f"   {name} system up in {time.monotonic() - started:.0f}s", flush=True)
    return _shared[name]


def close_shared() -> None:
    _shared.clear()
    _exit.close()
