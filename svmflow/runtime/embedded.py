"""The whole system in one process: bus workers, every processor, and a Redis stand-in that other
processes (the CLI) can reach over TCP."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from svmflow import operations
from svmflow.bootstrap import Container
from svmflow.config import Settings

log = logging.getLogger(__name__)


@dataclass
class EmbeddedSystem:
    settings: Settings
    workers: int = 4
    container: Container = field(init=False)
    _redis_server: object | None = field(init=False, default=None)
    _redis_thread: threading.Thread | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.settings.state_dir.mkdir(parents=True, exist_ok=True)
        provided = {}
        if not self.settings.redis_url:
            provided["redis"] = self._serve_fake_redis()
        self.container = Container(self.settings, **provided)

    def _serve_fake_redis(self) -> object:
        import fakeredis

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
        c.subscribe_all(c.bus)
        c.bus.start(self.workers)
        added = operations.seed(c)
        if added:
            log.info("seeded %d training rows", added)
        pointer, _ = c.registry.pointer()
        if pointer is None:
            event = operations.train(c, reason="manual")
            if event is not None:
                log.info("initial model: %s (%s)", event.decision, event.reason)

    def stop(self) -> None:
        self.container.bus.stop()
        server = self._redis_server
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]
