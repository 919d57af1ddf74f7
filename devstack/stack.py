"""The emulated stack: the Pub/Sub emulator, fake-gcs-server, one functions-framework process per
function, and both APIs, each in a process group of its own, wired as in production.

Why a process per function: in production each function is its own service with its own instance, its
own connections and its own ``ModelServer``; one process per function keeps that (a redelivery to one
function does not share memory with another), at the cost of ten Python processes, which start in
a few seconds even on two cores. functions-framework serves each one with gunicorn, as on Cloud Run.

Redis and PostgreSQL are given (their URLs); the stack neither starts nor stops them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import gcs, pubsub_emulator
from devstack.processes import Child, ProcessError, free_port
from devstack.secret_manager import LocalSecretManager
from svmflow import topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.runtime.ticker import Ticker

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]  # the functions source root: main.py and functions/


@dataclass
class StackConfig:
    redis_url: str
    database_url: str
    run_dir: Path
    project: str = "svmflow-local"
    cache_prefix: str = "svmflow:"
    model_bucket: str = "svmflow-models"
    policy: pubsub_emulator.DeliveryPolicy = field(default_factory=pubsub_emulator.DeliveryPolicy)
    # Secret name (without the prefix) -> value. Given, they are served by a local Secret Manager and
    # every process reads them through the Secret Manager client, as in production.
    secrets: Mapping[str, str] | None = None
    # Any other SVMFLOW_* settings for every process (thresholds, refresh intervals, ...).
    env: Mapping[str, str] = field(default_factory=dict)
    ingest_port: int = 0  # 0: a free port
    predict_port: int = 0
    apis: bool = True
    bucket_dir: Path | None = None  # keep the bucket across restarts; None: in memory


class EmulatedStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.log_dir = config.run_dir / "logs"
        self.secret_manager: LocalSecretManager | None = None
        self.emulator_port = free_port()
        self.gcs_port = free_port()
        self.function_ports = {name: free_port() for name in topology.FUNCTIONS}
        self.ingest_port = config.ingest_port or free_port()
        self.predict_port = config.predict_port or free_port()
        self.emulator: Child | None = None
        self.gcs: Child | None = None
        self.functions: dict[str, Child] = {}
        self.apis: dict[str, Child] = {}
        self._saved_env: dict[str, str | None] = {}
        self._container: Container | None = None
        self.ticker: Ticker | None = None

    # -- addresses ---------------------------------------------------------------------------

    @property
    def emulator_host(self) -> str:
        return f"127.0.0.1:{self.emulator_port}"

    @property
    def storage_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.gcs_port}"

    @property
    def ingest_url(self) -> str:
        return f"http://127.0.0.1:{self.ingest_port}"

    @property
    def predict_url(self) -> str:
        return f"http://127.0.0.1:{self.predict_port}"

    def function_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.function_ports[name]}"

    def push_url(self, name: str) -> str:
        """Where the emulator pushes ``name``'s trigger topic."""
        topic = topology.FUNCTIONS[name][0]
        return pubsub_emulator.push_endpoint(self.function_url(name), self.config.project, topic)

    # -- configuration -----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The environment of every process of the stack (and of a client of it)."""
        c = self.config
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SVMFLOW_") and k not in ("PUBSUB_EMULATOR_HOST", "STORAGE_EMULATOR_HOST")
        }
        env.update(
            {
                "SVMFLOW_MODE": "emulated",
                "SVMFLOW_PROJECT": c.project,
                "SVMFLOW_DATABASE_URL": c.database_url,
                "SVMFLOW_REDIS_URL": c.redis_url,
                "SVMFLOW_CACHE_PREFIX": c.cache_prefix,
                "SVMFLOW_MODEL_BUCKET": c.model_bucket,
                "SVMFLOW_STORAGE_ENDPOINT": self.storage_endpoint,
                "SVMFLOW_MAX_DELIVERY_ATTEMPTS": str(c.policy.max_delivery_attempts),
                "SVMFLOW_PREDICT_URL": self.predict_url,
                "SVMFLOW_INGEST_URL": self.ingest_url,
                "SVMFLOW_INGEST_PORT": str(self.ingest_port),
                "SVMFLOW_PREDICT_PORT": str(self.predict_port),
                "SVMFLOW_STATE_DIR": str(c.run_dir / "state"),
                "PUBSUB_EMULATOR_HOST": self.emulator_host,
                "PYTHONUNBUFFERED": "1",
                # Fewer glibc arenas, so memory freed after a burst is not kept per thread (see
                # svmflow/runtime/memory.py).
                "MALLOC_ARENA_MAX": "2",
            }
        )
        if self.secret_manager is not None:
            env["SVMFLOW_SECRET_MANAGER_ENDPOINT"] = self.secret_manager.endpoint
        env.update(c.env)
        return env

    def settings(self, **overrides: object) -> Settings:
        return Settings.from_env(self.env(), **overrides)

    @property
    def container(self) -> Container:
        """A container in this process with the stack's settings: for seeding, training, inspecting."""
        if self._container is None:
            self._container = Container(self.settings())
        return self._container

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> EmulatedStack:
        started = time.monotonic()
        c = self.config
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            if c.secrets is not None:
                prefixed = {Settings().secret_prefix + k: v for k, v in c.secrets.items()}
                self.secret_manager = LocalSecretManager(c.project, prefixed).start()
            env = self.env()
            # This process talks to the emulator too (admin calls, the container); the clients read
            # the variable when they are built.
            self._set_env("PUBSUB_EMULATOR_HOST", self.emulator_host)
            self.emulator = pubsub_emulator.emulator(self.emulator_port, self.log_dir, env).start()
            self.gcs = gcs.fake_gcs_server(self.gcs_port, self.log_dir, env, c.bucket_dir).start()
            for name, port in self.function_ports.items():
                self.functions[name] = self._function(name, port, env).start()
            if c.apis:
                for name, port in (("ingest", self.ingest_port), ("predict", self.predict_port)):
                    self.apis[name] = self._api(name, port, env).start()
            self.gcs.wait_ready(timeout)
            gcs.create_bucket(self.storage_endpoint, c.project, c.model_bucket)
            # One process creates the schema before any function can race to do it.
            self.container.db  # noqa: B018
            for child in [*self.functions.values(), *self.apis.values()]:
                child.wait_ready(timeout)
            self.emulator.wait_ready(timeout)
            # Push subscriptions last: their first delivery finds the functions listening.
            urls = {name: self.function_url(name) for name in topology.FUNCTIONS}
            pubsub_emulator.create_topology(c.project, urls, c.policy)
            # Cloud Scheduler's job when deployed: completion webhooks whose retry is due are sent.
            self.ticker = Ticker(self.container.publisher, self.container.settings.webhook_tick_seconds)
            self.ticker.start()
        except BaseException:
            self.stop()
            raise
        log.info("emulated stack up in %.1fs", time.monotonic() - started)
        return self

    def _function(self, name: str, port: int, env: Mapping[str, str]) -> Child:
        executable = Path(sys.executable).parent / "functions-framework"
        if not executable.exists():
            found = shutil.which("functions-framework")
            if not found:
                raise ProcessError("functions-framework is not installed (uv sync installs it)")
            executable = Path(found)
        args = [str(executable), "--source", str(ROOT / "main.py"), "--target", name]
        args += ["--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port)]
        return Child(
            f"fn-{name}", args, log_path=self.log_dir / f"fn-{name}.log", env=env, cwd=ROOT, port=port
        )

    def _api(self, name: str, port: int, env: Mapping[str, str]) -> Child:
        args = [sys.executable, "-m", "api", name, "--host", "127.0.0.1", "--port", str(port)]
        return Child(
            f"api-{name}", args, log_path=self.log_dir / f"api-{name}.log", env=env, cwd=ROOT, port=port
        )

    def children(self) -> list[Child]:
        found = [*self.apis.values(), *self.functions.values(), self.emulator, self.gcs]
        return [child for child in found if child is not None]

    def stop(self) -> None:
        if self.ticker is not None:
            self.ticker.stop()
            self.ticker = None
        children = self.children()
        with ThreadPoolExecutor(max_workers=max(1, len(children))) as pool:
            list(pool.map(lambda child: child.stop(grace=5), children))
        self.apis.clear()
        self.functions.clear()
        self.emulator = self.gcs = None
        if self.secret_manager is not None:
            self.secret_manager.stop()
            self.secret_manager = None
        self._container = None
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _set_env(self, name: str, value: str) -> None:
        self._saved_env.setdefault(name, os.environ.get(name))
        os.environ[name] = value

    def __enter__(self) -> EmulatedStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # -- operations --------------------------------------------------------------------------

    def bootstrap_model(self, timeout: float = 60.0) -> Any:
        """Seed and train in this process when no model is in production; wait for the read model."""
        from svmflow import operations

        container = self.container
        operations.seed(container)
        pointer, _ = container.registry.pointer()
        event = None
        if pointer is None:
            event = operations.train(container, reason="manual")
        deadline = time.monotonic() + timeout
        while container.read_model.current_model() is None:
            if time.monotonic() > deadline:
                raise ProcessError("the read model has no current model (is training-to-cache running?)")
            time.sleep(0.1)
        return event


@contextlib.contextmanager
def running(config: StackConfig) -> Iterator[EmulatedStack]:
    stack = EmulatedStack(config)
    with stack:
        yield stack
