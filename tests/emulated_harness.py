"""The emulated stack for the integration and e2e tiers, started once per session on free ports.

Redis and PostgreSQL are private servers of this session (not the machine's shared ones): the outage
tests stop and restart them, and this PostgreSQL requires a password, which the processes read from a
local Secret Manager. Each session also gets its own database (``svmflow_test_<random>``) and Redis key
prefix (``svmflow:test:<random>:``), so nothing a previous or a parallel run left behind is visible.
A missing tool (the Pub/Sub emulator, redis-server, PostgreSQL) fails the session loudly.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import pytest

from devstack.processes import free_port, running_children
from devstack.pubsub_emulator import DeliveryPolicy
from devstack.raw_http import RawHttp as Client
from devstack.servers import PrivatePostgres, PrivateRedis
from devstack.stack import EmulatedStack, StackConfig
from svmflow import topology
from svmflow.bootstrap import Container
from svmflow.webhooks import signing
from tests.builders import _ROWS, DATA
from tests.https_receiver import Receiver, https_receiver

# Five attempts (the Pub/Sub minimum) before dead-lettering. No retry policy: the emulator then
# redelivers about once a second, which is quick and, unlike its retry-policy path, never loses a
# redelivery (see DeliveryPolicy). `make run-emulated` keeps the production retry policy.
POLICY = DeliveryPolicy(max_delivery_attempts=5, ack_deadline_seconds=10, retry_policy=False)
TUNING = {
    "SVMFLOW_MODEL_REFRESH_SECONDS": "0.5",
    "SVMFLOW_RETRAIN_MIN_NEW_LABELS": "40",
    "SVMFLOW_GATE_MIN_WINDOW": "5",
    "SVMFLOW_LOG_LEVEL": "INFO",
    "SVMFLOW_DB_POOL_SIZE": "4",
    # Short, so the freeze test waits seconds, not half a minute, for a frozen claim to run out.
    "SVMFLOW_TRAINING_LEASE_SECONDS": "6",
    # Small, so the drift test closes its windows with a few batches (a window's test is cheap).
    "SVMFLOW_DRIFT_WINDOW": "100",
}


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class EmulatedRun:
    stack: EmulatedStack
    redis: PrivateRedis
    postgres: PrivatePostgres
    database: str
    secret_values: dict[str, str]
    started_pids: set[int] = field(default_factory=set)
    # Completion webhooks of the run are sent here (loopback is allowed, its CA trusted).
    receiver: Receiver | None = None

    @property
    def api_key(self) -> str:
        """A plain key (the secret's first entry)."""
        return self.secret_values["api-keys"].split(",")[0]

    @property
    def operator_key(self) -> str:
        return self.secret_values["api-keys"].split(",")[1].removeprefix("operator:")

    @property
    def container(self) -> Container:
        return self.stack.container

    @property
    def client(self) -> Client:
        return Client(self.stack.ingest_url, self.stack.predict_url, self.api_key)

    # -- through the APIs --------------------------------------------------------------------

    def submit(
        self, rows: int = 20, offset: int = 0, tag: str = "", shift: tuple[float, ...] | None = None
    ) -> tuple[int, Any]:
        """Rows of the data set; with ``shift``, as a recalibrated scanner reads the same notes."""
        chosen = _ROWS[offset : offset + rows]
        tag = tag or secrets.token_hex(3)
        moved = shift or (0.0,) * len(chosen[0].features)
        body = {
            "subjects": [f"{tag}-{offset + i}" for i in range(len(chosen))],
            "features": [[x + d for x, d in zip(r.features, moved, strict=True)] for r in chosen],
        }
        status, answer, _ = self.client.call("POST", f"{self.stack.ingest_url}/v1/batches", body)
        return status, answer

    def accepted(self, rows: int = 20, offset: int = 0, shift: tuple[float, ...] | None = None) -> str:
        status, answer = self.submit(rows, offset, shift=shift)
        assert status == 202, answer
        return str(answer["batch_id"])

    def poll(self, batch_id: str) -> tuple[int, Any]:
        status, answer, _ = self.client.call("GET", f"{self.stack.predict_url}/v1/batches/{batch_id}")
        return status, answer

    def wait_done(self, batch_id: str, timeout: float = 60) -> Any:
        def done() -> Any:
            status, answer = self.poll(batch_id)
            return answer if status == 200 else None

        return wait_until(done, timeout, f"batch {batch_id} to be pollable", interval=0.05)

    def current_model(self) -> Any:
        status, answer, _ = self.client.call("GET", f"{self.stack.predict_url}/v1/models/current")
        assert status == 200, answer
        return answer

    # -- straight to a function, as the emulator would push ----------------------------------

    def push(self, function: str, data: bytes, attributes: dict[str, str], message_id: str) -> int:
        envelope = {
            "message": {
                "data": base64.b64encode(data).decode(),
                "attributes": attributes,
                "messageId": message_id,
                "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            },
            "subscription": f"projects/{self.stack.config.project}/subscriptions/"
            + topology.subscription_name(function),
        }
        request = urllib.request.Request(
            self.stack.push_url(function),
            data=json.dumps(envelope).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    def logs(self) -> str:
        """Everything every process of the stack printed so far."""
        return "\n".join(
            path.read_text(errors="replace") for path in sorted(self.stack.log_dir.glob("*.log"))
        )


def _session_pids() -> set[int]:
    return {child.pid for child in running_children() if child.pid is not None}


@pytest.fixture(scope="session")
def emulated() -> Iterator[EmulatedRun]:
    run_id = secrets.token_hex(4)
    # Under /tmp, readable by the `postgres` account that a root-run session hands the cluster to.
    base = Path(tempfile.mkdtemp(prefix=f"svmflow-test-{run_id}-"))
    os.chmod(base, 0o755)
    logs = base / "logs"
    secret_values = {
        "db-password": secrets.token_urlsafe(18),
        "api-keys": f"key-{secrets.token_urlsafe(18)},operator:op-{secrets.token_urlsafe(18)}",
        "id-signing-key": secrets.token_urlsafe(32),
        "webhook-secret": signing.new_secret(),
    }
    redis = PrivateRedis(free_port(), base / "redis", logs)
    postgres = PrivatePostgres(free_port(), base / "pg" / "data", logs, secret_values["db-password"])
    database = f"svmflow_test_{run_id}"
    stack: EmulatedStack | None = None
    pids: set[int] = set()
    hooks = contextlib.ExitStack()
    try:
        receiver = hooks.enter_context(https_receiver())
        (base / "receiver-ca.pem").write_bytes(receiver.ca_pem)
        redis.start()
        postgres.init()
        postgres.start()
        postgres.create_database(database)
        config = StackConfig(
            redis_url=redis.url,
            database_url=postgres.url(database),
            run_dir=base / "stack",
            cache_prefix=f"svmflow:test:{run_id}:",
            policy=POLICY,
            secrets=secret_values,
            env=TUNING
            | {
                "SVMFLOW_DATA_PATH": str(DATA),
                "SVMFLOW_WEBHOOK_ALLOW": "loopback",
                "SVMFLOW_WEBHOOK_CA_FILE": str(base / "receiver-ca.pem"),
                "SVMFLOW_WEBHOOK_RETRY_SCALE": "0.0005",
                "SVMFLOW_WEBHOOK_TICK_SECONDS": "0.5",
            },
        )
        stack = EmulatedStack(config).start()
        pids = _session_pids()
        stack.bootstrap_model()
        run = EmulatedRun(stack, redis, postgres, database, secret_values, pids, receiver)
        yield run
    finally:
        hooks.close()
        pids |= _session_pids()
        if stack is not None:
            stack.stop()
        if postgres.child is not None:
            try:
                with postgres.admin() as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                postgres.stop()
        redis.stop()
        if os.environ.get("SVMFLOW_KEEP_TEST_RUN"):  # to read the processes' logs after a failure
            print(f"\nemulated run kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
        _assert_nothing_left(pids)


def _assert_nothing_left(pids: set[int]) -> None:
    """No process of any group this session started, and no child of this process, is alive."""
    left = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        try:
            if os.getpgid(proc.info["pid"]) in pids:
                left.append(proc.info)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    children = [p for p in psutil.Process().children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    assert not left, f"processes left behind: {left}"
    assert not children, f"child processes left behind: {children}"
