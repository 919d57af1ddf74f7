"""The whole system in one process: bus workers, every processor, a Redis stand-in that other processes
(the CLI) can reach over TCP, and any HTTP apps handed to ``serve`` (the ingest and predict APIs)."""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from svmflow import operations, topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import ModelEvent
from svmflow.errors import SvmflowError, TransientError
from svmflow.runtime import memory
from svmflow.runtime.ticker import Ticker

if TYPE_CHECKING:
    import fakeredis

log = logging.getLogger(__name__)


RUN_LOCK = "run.lock"


class StateDirInUseError(SvmflowError):
    def __init__(self, state_dir: Path, holder: str) -> None:
        super().__init__(
            f"svmflow is already running on the state directory {state_dir} ({holder}); "
            "stop it first, or give this one another SVMFLOW_STATE_DIR"
        )


def _holder(lock_file: IO[str]) -> str:
    lock_file.seek(0)
    return lock_file.read().strip() or "another process"


def ensure_state_dir_free(state_dir: Path) -> None:
    """Raise at once if a system runs on ``state_dir``, before anything (a port check) could fail for
    the same reason with a less helpful message. The system itself still takes the lock."""
    path = state_dir / RUN_LOCK
    if not path.exists():
        return
    with path.open("a+") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StateDirInUseError(state_dir, _holder(lock_file)) from None
        fcntl.flock(lock_file, fcntl.LOCK_UN)


@dataclass(frozen=True)
class HttpService:
    name: str
    app: Any  # an ASGI application
    host: str
    port: int
    # More uvicorn.Config options (the API's own HTTP protocol).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class _RunningServer:
    service: HttpService
    server: Any  # uvicorn.Server
    thread: threading.Thread


@dataclass
class EmbeddedSystem:
    settings: Settings
    workers: int = 4
    container: Container = field(init=False)
    _redis_server: fakeredis.TcpFakeServer | None = field(init=False, default=None)
    _redis_thread: threading.Thread | None = field(init=False, default=None)
    _servers: list[_RunningServer] = field(init=False, default_factory=list)
    _lock_file: IO[str] | None = field(init=False, default=None)
    _trimmer: memory.IdleTrimmer | None = field(init=False, default=None)
    _ticker: Ticker | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        memory.limit_arenas()  # before any thread of the system starts
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        self._lock_state_dir()
        try:
            provided = {}
            if not self.settings.redis_url:
                provided["redis"] = self._serve_fake_redis()
            self.container = Container(self.settings, **provided)
        except BaseException:
            self._unlock_state_dir()
            raise

    def _lock_state_dir(self) -> None:
        """One system per state directory: a second one would consume the same bus, and batches
        would be answered by whichever instance claimed them."""
        lock_file = (self.settings.state_dir / RUN_LOCK).open("a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(lock_file)
            lock_file.close()
            raise StateDirInUseError(self.settings.state_dir, holder) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(f"process {os.getpid()}\n")
        lock_file.flush()
        self._lock_file = lock_file

    def _unlock_state_dir(self) -> None:
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def _serve_fake_redis(self) -> object:
        from svmflow.adapters.fake_redis import fakeredis_module

        fakeredis = fakeredis_module()
        server = fakeredis.TcpFakeServer(("127.0.0.1", self.settings.embedded_redis_port))
        self._redis_server = server
        self._redis_thread = threading.Thread(target=server.serve_forever, name="fake-redis", daemon=True)
        self._redis_thread.start()
        return fakeredis.FakeRedis(server=server.fake_server)

    def start(self) -> None:
        c = self.container
        # The stand-in Redis starts empty; Postgres (here SQLite) is the source of truth.
        counts = operations.rebuild_read_model(c)
        log.info("read model rebuilt", extra=counts)
        if not self.settings.redis_url:
            # What the database does not have yet is still owed to its sinks on the bus: deliver it to
            # the read model's sinks too, whatever order the rebuild and those deliveries take.
            for function in ("prediction_to_cache", "training_to_cache"):
                owed = c.bus.redeliver_owed(topology.subscription_name(function))
                if owed:
                    log.info("%d message(s) delivered again to %s after the restart", owed, function)
        c.subscribe_all(c.bus)
        c.bus.start(self.workers)
        self._trimmer = memory.IdleTrimmer(c.bus.busy).start()
        # Cloud Scheduler's job in a deployment: completion webhooks whose retry is due are sent.
        self._ticker = Ticker(c.bus, self.settings.webhook_tick_seconds).start()
        added = operations.seed(c)
        if added:
            log.info("seeded %d training rows", added)
        pointer, _ = c.registry.pointer()
        if pointer is None:
            event = self._train_first_model()
            log.info("initial model: %s (%s)", event.decision, event.reason)
        # The ingest API checks batches against the current model: let it reach the read model first.
        deadline = time.monotonic() + 30
        while c.read_model.current_model() is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _train_first_model(self) -> ModelEvent:
        """Train now, or, when a training already runs (a `svmflow train` in another shell), wait for
        the queued job it picks up. A run killed mid-training left a claim that is freed at once."""
        deadline = time.monotonic() + self.settings.training_lease_seconds * 3 + 60
        while True:
            try:
                event = operations.train(self.container, reason="manual")
            except TransientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
                continue
            if event.decision not in ("queued", "running", "covered"):
                return event
            log.warning("another training is running; waiting for it before the first model")
            while self.container.registry.pointer()[0] is None:
                if time.monotonic() > deadline:
                    raise TransientError("no model in production yet: the running training has not ended")
                time.sleep(0.5)
            return event

    def serve(self, services: list[HttpService], startup_timeout: float = 15.0) -> None:
        """Serve each app with uvicorn in a thread of its own; returns once all of them listen."""
        import uvicorn

        # The banner of `svmflow run` says where the APIs are; uvicorn's own start lines would repeat it.
        logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
        for service in services:
            config = uvicorn.Config(
                service.app,
                host=service.host,
                port=service.port,
                log_config=None,
                access_log=False,
                lifespan="off",
                timeout_graceful_shutdown=5,
                **service.options,
            )
            server = uvicorn.Server(config)
            # uvicorn leaves signal handling to the main thread when it runs in another one.
            thread = threading.Thread(target=server.run, name=f"http-{service.name}", daemon=True)
            thread.start()
            self._servers.append(_RunningServer(service, server, thread))
            deadline = time.monotonic() + startup_timeout
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise SvmflowError(
                        f"the {service.name} API cannot listen on {service.host}:{service.port} "
                        "(is the port in use? set another with --ingest-port/--predict-port)"
                    )
                time.sleep(0.02)

    def stop(self) -> None:
        for running in self._servers:
            running.server.should_exit = True
        for running in self._servers:
            running.thread.join(10)
        self._servers.clear()
        if self._trimmer is not None:
            self._trimmer.stop()
        if self._ticker is not None:
            self._ticker.stop()
        self.container.bus.stop()
        server = self._redis_server
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._redis_thread is not None:
            self._redis_thread.join(5)
        self._unlock_state_dir()
