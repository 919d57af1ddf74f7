from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from svmflow import topology
from svmflow.errors import BusyError
from svmflow.messaging import Delivery
from svmflow.runtime.embedded_bus import EmbeddedBus

SUBSCRIPTION = topology.subscription_name("prediction")
TOPIC = topology.PREDICTION_REQUESTS


@pytest.fixture
def bus(tmp_path: Path):  # type: ignore[no-untyped-def]
    instance = EmbeddedBus(tmp_path / "bus.sqlite", max_attempts=3, min_backoff=0.01, max_backoff=0.05)
    yield instance
    instance.stop()


def test_delivers_with_attributes_and_acknowledges(bus: EmbeddedBus) -> None:
    seen: list[Delivery] = []
    bus.subscribe(SUBSCRIPTION, seen.append)
    message_id = bus.publish(TOPIC, b"payload", {"batch_id": "b1"}).result()
    bus.drain(5)
    assert [(d.data, d.attributes, d.message_id, d.delivery_attempt) for d in seen] == [
        (b"payload", {"batch_id": "b1"}, message_id, 1)
    ]
    assert bus.pending() == 0


def test_failure_is_redelivered_with_a_higher_attempt(bus: EmbeddedBus) -> None:
    attempts: list[int] = []

    def flaky(delivery: Delivery) -> None:
        attempts.append(delivery.delivery_attempt)
        if len(attempts) < 3:
            raise ConnectionError("redis down")

    bus.subscribe(SUBSCRIPTION, flaky)
    bus.publish(TOPIC, b"x", {})
    bus.drain(5)
    assert attempts == [1, 2, 3]
    assert bus.list_dead_letters() == []


def test_exhausted_attempts_go_to_the_dead_letter_topic_and_replay(bus: EmbeddedBus) -> None:
    broken = True
    handled: list[bytes] = []

    def handler(delivery: Delivery) -> None:
        if broken:
            raise RuntimeError("bug")
        handled.append(delivery.data)

    bus.subscribe(SUBSCRIPTION, handler)
    message_id = bus.publish(TOPIC, b"poison", {"batch_id": "b9"}).result()
    bus.drain(5)
    [letter] = bus.list_dead_letters()
    assert letter.topic == TOPIC
    assert letter.data == b"poison"
    assert "RuntimeError: bug" in letter.reason
    assert letter.attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "3"
    assert letter.message_id != message_id  # a new message on the dead-letter topic

    broken = False
    assert [r.message_id for r in bus.replay()] == [letter.message_id]
    bus.drain(5)
    assert handled == [b"poison"]
    assert bus.list_dead_letters() == []


def test_messages_survive_a_restart_and_cross_processes(tmp_path: Path) -> None:
    path = tmp_path / "bus.sqlite"
    EmbeddedBus(path).publish(TOPIC, b"queued while nobody listens", {}).result()
    consumer = EmbeddedBus(path)
    seen: list[bytes] = []
    consumer.subscribe(SUBSCRIPTION, lambda d: seen.append(d.data))
    consumer.drain(5)
    assert seen == [b"queued while nobody listens"]


def test_every_subscription_of_a_topic_gets_its_own_copy(bus: EmbeddedBus) -> None:
    cache, db = [], []
    bus.subscribe(topology.subscription_name("prediction_to_cache"), cache.append)
    bus.subscribe(topology.subscription_name("prediction_to_db"), db.append)
    bus.publish(topology.PREDICTIONS, b"p", {})
    bus.drain(5)
    assert len(cache) == len(db) == 1


def test_workers_deliver_concurrently(bus: EmbeddedBus) -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def slow(_: Delivery) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    bus.subscribe(SUBSCRIPTION, slow)
    for i in range(8):
        bus.publish(TOPIC, str(i).encode(), {})
    bus.start(workers=4)
    bus.drain(10)
    assert peak[0] > 1


def test_a_delivery_past_its_ack_deadline_is_delivered_again(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite", ack_deadline=0.05)
    attempts: list[int] = []
    release = threading.Event()

    def stuck(delivery: Delivery) -> None:
        attempts.append(delivery.delivery_attempt)
        if delivery.delivery_attempt == 1:
            release.wait(2)

    bus.subscribe(SUBSCRIPTION, stuck)
    bus.publish(TOPIC, b"x", {})
    bus.start(workers=2)
    deadline = time.monotonic() + 2
    while len(attempts) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    release.set()
    bus.stop()
    assert attempts[:2] == [1, 2]


def test_a_busy_refusal_does_not_use_up_the_attempts_of_poison_messages(tmp_path: Path) -> None:
    bus = EmbeddedBus(tmp_path / "bus.sqlite", max_attempts=3, min_backoff=0.01, busy_backoff=0.01)
    refusals: list[int] = []
    handled: list[int] = []

    def busy_then_fine(delivery: Delivery) -> None:
        if len(refusals) < 8:  # far more refusals than the three attempts a poison message gets
            refusals.append(delivery.delivery_attempt)
            raise BusyError("another training holds the claim")
        handled.append(delivery.delivery_attempt)

    bus.subscribe(SUBSCRIPTION, busy_then_fine)
    bus.publish(TOPIC, b"x", {})
    try:
        bus.drain(10)
    finally:
        bus.stop()
    assert refusals == [1] * 8
    assert handled == [1]
    assert bus.list_dead_letters() == []


def test_a_dead_letter_says_what_happened_and_what_happens_next(bus: EmbeddedBus) -> None:
    def broken(_: Delivery) -> None:
        raise ConnectionError("redis down")

    bus.subscribe(SUBSCRIPTION, broken)
    bus.publish(TOPIC, b"x", {})
    bus.drain(5)
    [letter] = bus.list_dead_letters()
    assert letter.reason.startswith("dead-lettered after 3 attempts, not retried again until replayed")
    assert letter.reason.endswith("last error: ConnectionError: redis down")
    assert "will be retried" not in letter.reason


def test_after_a_restart_a_sink_gets_again_what_a_sibling_still_owes(tmp_path: Path) -> None:
    """The embedded read model is in memory: a message its cache sink acknowledged before a crash, but
    the database sink did not, is delivered to the cache sink again after the restart."""
    path = tmp_path / "bus.sqlite"
    cache = topology.subscription_name("prediction_to_cache")
    before = EmbeddedBus(path)
    before.subscribe(cache, lambda _: None)  # only the cache sink ran before the crash
    before.publish(topology.PREDICTIONS, b"batch-7", {}).result()
    before.drain(5)
    before.stop()

    after = EmbeddedBus(path)
    assert after.redeliver_owed(cache) == 1
    assert after.redeliver_owed(cache) == 0  # already owed: not twice
    seen: list[bytes] = []
    after.subscribe(cache, lambda d: seen.append(d.data))
    after.drain(5)
    after.stop()
    assert seen == [b"batch-7"]
