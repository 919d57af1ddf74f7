"""Fakes for unit tests: record what would have gone over the wire."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from svmflow.db.database import Database


@dataclass
class Published:
    topic: str
    data: bytes
    attributes: dict[str, str]
    message_id: str


@dataclass
class RecordingPublisher:
    """Accepts every message (or fails the next ``fail_next`` publishes) and keeps them in order."""

    messages: list[Published] = field(default_factory=list)
    fail_next: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> Future[str]:
        future: Future[str] = Future()
        with self._lock:
            if self.fail_next:
                self.fail_next -= 1
                future.set_exception(ConnectionError("publisher unavailable"))
                return future
            message_id = uuid.uuid4().hex
            self.messages.append(Published(topic, data, dict(attributes), message_id))
        future.set_result(message_id)
        return future

    def on(self, topic: str) -> list[Published]:
        return [m for m in self.messages if m.topic == topic]


class FlakyDatabase(Database):
    """A database whose next ``failures`` transactions fail as if the server were unreachable."""

    def __init__(self, inner: Database, failures: int = 0) -> None:
        super().__init__(inner.engine)
        self.failures = failures

    def transaction(self):  # type: ignore[no-untyped-def, override]
        if self.failures:
            self.failures -= 1
            raise OperationalError("BEGIN", {}, ConnectionRefusedError("database unavailable"))
        return super().transaction()
