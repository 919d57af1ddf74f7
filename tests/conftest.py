from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest

from svmflow import operations
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.messaging import Delivery
from tests.emulated_harness import emulated  # noqa: F401 (a session fixture for the emulated tiers)
from tests.fakes import Published, RecordingPublisher


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        model_refresh_seconds=0.0,
        retrain_min_new_labels=10,
        # The derived threshold, pinned: these tests count labels up to a known trigger.
        retrain_floor_new_labels=10,
        retrain_max_new_labels=10,
        gate_min_window=5,
    )


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def redis_server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def container(
    settings: Settings, publisher: RecordingPublisher, redis_server: fakeredis.FakeServer
) -> Container:
    """Unit-test wiring: SQLite and a local bucket in tmp, fakeredis, a recording publisher."""
    return Container(settings, publisher=publisher, redis=fakeredis.FakeRedis(server=redis_server))


@pytest.fixture
def trained(container: Container, publisher: RecordingPublisher) -> Container:
    """A container whose production model is trained on the seed data."""
    operations.seed(container)
    event = operations.train(container)
    assert event is not None
    assert event.decision == "promoted"
    publisher.messages.clear()
    return container


def delivery_of(message: Published, attempt: int = 1, message_id: str | None = None) -> Delivery:
    """Turn a published message into what a subscriber receives."""
    return Delivery(
        topic=message.topic,
        data=message.data,
        attributes=message.attributes,
        message_id=message_id or message.message_id,
        delivery_attempt=attempt,
    )


def new_delivery(topic: str, data: bytes, attributes: dict[str, str] | None = None) -> Delivery:
    return Delivery(topic=topic, data=data, attributes=attributes or {}, message_id=uuid.uuid4().hex)


@pytest.fixture
def embedded(settings: Settings) -> Iterator[Container]:
    """The embedded runtime: durable bus with workers, fakeredis, SQLite, local bucket, every processor."""
    c = Container(
        settings.with_(max_delivery_attempts=3), redis=fakeredis.FakeRedis(server=fakeredis.FakeServer())
    )
    c.bus.min_backoff = 0.02
    c.bus.max_backoff = 0.1
    c.subscribe_all(c.bus)
    c.bus.start(workers=4)
    try:
        yield c
    finally:
        c.bus.stop()


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports: all are held at once, so no two are the same."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
