"""An in-process message bus with Pub/Sub's delivery semantics, kept in a SQLite file.

* At least once: a delivery is removed only after its handler returns; a handler that raises, or that
  outlives the ack deadline, gets the message again, with exponential backoff.
* Busy is not poison: a handler that refuses with ``BusyError`` (another training holds the claim, a
  dependency refuses connections) gets the message again later without using up an attempt.
* Dead letters: after ``max_attempts`` deliveries the message moves to ``<topic>-dead-letter`` with the
  same attributes Pub/Sub adds, where it waits in ``<topic>-dead-letter-sub`` to be listed or replayed.
* Concurrent: a pool of worker threads delivers different messages (and, past an ack deadline, the same
  one) at the same time.
* Durable and shared: the queue lives in a file, so the CLI in another process can publish (a rollback,
  a replay) to a running system, and nothing accepted is lost on restart.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from svmflow import topology
from svmflow.errors import BusyError
from svmflow.messaging import DeadLetter, Delivery

log = logging.getLogger(__name__)

# What a subscriber returns is ignored: it acknowledges by returning, and asks for redelivery by raising.
Handler = Callable[[Delivery], object]
T = TypeVar("T")


class _Pending:
    """One write waiting for the next group commit."""

    __slots__ = ("done", "error", "on_commit", "result", "work")

    def __init__(
        self,
        work: Callable[[sqlite3.Connection], Any],
        on_commit: Callable[[BaseException | None], None] | None = None,
    ) -> None:
        self.work = work
        self.on_commit = on_commit
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    name TEXT PRIMARY KEY, topic TEXT NOT NULL, dead_letter_topic TEXT
);
CREATE TABLE IF NOT EXISTS messages (
    message_id TEXT PRIMARY KEY, topic TEXT NOT NULL, data BLOB NOT NULL,
    attributes TEXT NOT NULL, published_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS deliveries (
    subscription TEXT NOT NULL, message_id TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL, leased_until REAL NOT NULL DEFAULT 0, last_error TEXT,
    PRIMARY KEY (subscription, message_id)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (not_before);
CREATE INDEX IF NOT EXISTS deliveries_subscription_due ON deliveries (subscription, not_before);
"""

DEAD_LETTER_SUFFIX = topology.DEAD_LETTER_SUFFIX


def dead_letter_subscription(topic: str) -> str:
    return f"{topology.dead_letter_topic(topic)}-sub"


def dead_letter_reason(attempts: int, last_error: str) -> str:
    """What happened and what happens next, for the dead-letter listing."""
    return (
        f"dead-lettered after {attempts} attempts, not retried again until replayed "
        f"(`svmflow dead-letters replay`); last error: {last_error}"
    )[:1000]


class EmbeddedBus:
    def __init__(
        self,
        path: Path,
        *,
        max_attempts: int = 5,
        min_backoff: float = 0.1,
        max_backoff: float = 10.0,
        ack_deadline: float = 60.0,
        poll_interval: float = 0.2,
        busy_backoff: float = 1.0,
    ) -> None:
        self.path = path
        self.max_attempts = max_attempts
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.ack_deadline = ack_deadline
        self.poll_interval = poll_interval
        self.busy_backoff = busy_backoff
        self._local = threading.local()
        self._writer_conn: sqlite3.Connection | None = None
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # Writers of this process queue here rather than in SQLite's busy handler, which sleeps up to
        # 100 ms between tries: under load that sleeping, not the writes, set the API's tail latency.
        self._write_lock = threading.Lock()
        self._queued: list[_Pending] = []
        # Guards the queue of writes waiting for a group commit and who is committing one now.
        self._group = threading.Condition()
        self._leading = False
        self._ready: deque[tuple[str, Delivery]] = deque()
        self._ready_lock = threading.Lock()
        self._handlers: dict[str, Handler] = {}
        self._wakeup = threading.Condition()
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._in_flight = 0
        # Bumped (under ``_wakeup``) whenever work arrives, so a worker that found nothing due does not
        # go to sleep on a message published between its look and its wait.
        self._arrivals = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(_SCHEMA)
        self._create_topology()

    # -- connections -------------------------------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _writer(self) -> sqlite3.Connection:
        """The one connection every write of this process goes through (they hold ``_write_lock``).
        A connection per writing thread kept a page cache per thread of the API's pool."""
        if self._writer_conn is None:
            self._writer_conn = self._connect()
        return self._writer_conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL syncs at checkpoints rather than at every commit: a commit survives a
        # crash of the process (what a restart needs) but not of the machine; a sync per message
        # capped the local system at a few hundred messages a second.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._write_lock:
            conn = self._writer()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _grouped(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a transaction, committed before this returns, shared with the writes other
        threads queued meanwhile (group commit): whoever takes the write lock commits every write
        queued by then, so under load one transaction carries many publishes, claims and acks instead
        of each thread waiting its turn for a transaction of its own. Each write runs in a savepoint,
        so one that fails is undone alone and raises in its own thread."""
        pending = _Pending(work)
        with self._group:
            self._queued.append(pending)
            while self._leading and not pending.done:
                self._group.wait()
            if not pending.done:
                self._leading = True
                group, self._queued = self._queued, []
        if not pending.done:
            try:
                with self._write_lock:
                    self._commit_group(group)
            finally:
                with self._group:
                    self._leading = False
                    self._group.notify_all()
        if pending.error is not None:
            raise pending.error
        return pending.result  # type: ignore[no-any-return]  # what `work` returned: a T

    def _commit_group(self, group: list[_Pending]) -> None:
        conn = self._writer()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                for pending in group:
                    conn.execute("SAVEPOINT write")
                    try:
                        pending.result = pending.work(conn)
                    except Exception as exc:
                        conn.execute("ROLLBACK TO write")
                        pending.error = exc
                    conn.execute("RELEASE write")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except BaseException as exc:
            for pending in group:
                pending.result, pending.error = None, pending.error or exc
        finally:
            for pending in group:
                pending.done = True
                if pending.on_commit is not None:
                    pending.on_commit(pending.error)

    def _queue_write(
        self, work: Callable[[sqlite3.Connection], Any], on_commit: Callable[[BaseException | None], None]
    ) -> None:
        """Queue ``work`` for the next group commit without waiting for it; ``on_commit`` runs then."""
        with self._group:
            self._queued.append(_Pending(work, on_commit))

    def _flush(self) -> None:
        """Commit whatever is queued."""
        self._grouped(lambda db: None)

    def _create_topology(self) -> None:
        with self._write() as db:
            for function, (topic, _, _) in topology.FUNCTIONS.items():
                db.execute(
                    "INSERT OR IGNORE INTO subscriptions VALUES (?, ?, ?)",
                    (
                        topology.subscription_name(function),
                        topic,
                        None if topology.is_dead_letter_topic(topic) else topology.dead_letter_topic(topic),
                    ),
                )
            for topic in topology.TOPICS:
                dead = topology.dead_letter_topic(topic)
                db.execute(
                    "INSERT OR IGNORE INTO subscriptions VALUES (?, ?, NULL)",
                    (dead_letter_subscription(topic), dead),
                )

    # -- publishing --------------------------------------------------------------------------

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> Future[str]:
        future: Future[str] = Future()
        try:
            message_id = self._insert(topic, data, attributes)
        except Exception as exc:  # the caller sees it through the future, as with Pub/Sub
            future.set_exception(exc)
            return future
        future.set_result(message_id)
        with self._wakeup:
            self._arrivals += 1
            self._wakeup.notify_all()
        return future

    def _insert(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        return self._grouped(lambda db: self._enqueue(db, topic, data, attributes))

    @staticmethod
    def _enqueue(db: sqlite3.Connection, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        message_id = uuid.uuid4().hex
        now = time.time()
        subscriptions = [
            row[0] for row in db.execute("SELECT name FROM subscriptions WHERE topic = ?", (topic,))
        ]
        if not subscriptions:
            return message_id  # like Pub/Sub: no subscription, nobody receives it
        db.execute(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?)",
            (message_id, topic, data, json.dumps(attributes), now),
        )
        db.executemany(
            "INSERT INTO deliveries (subscription, message_id, not_before) VALUES (?, ?, ?)",
            [(name, message_id, now) for name in subscriptions],
        )
        return message_id

    def ready(self) -> None:
        """Raises when the queue file cannot be read (the readiness check of the APIs)."""
        self._conn().execute("SELECT 1 FROM subscriptions LIMIT 1").fetchone()

    # -- delivering --------------------------------------------------------------------------

    def subscribe(self, subscription: str, handler: Handler) -> None:
        self._handlers[subscription] = handler

    def start(self, workers: int = 4) -> None:
        self._stopping.clear()
        for index in range(workers):
            thread = threading.Thread(target=self._work, name=f"bus-worker-{index}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        with self._wakeup:
            self._wakeup.notify_all()
        for thread in self._workers:
            thread.join(timeout)
        self._workers.clear()
        self._flush()  # acknowledgements still queued
        self._release_ready()
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
        self._writer_conn = None

    def _release_ready(self) -> None:
        """Hand back deliveries leased by a claim but never started, as if never delivered."""
        with self._ready_lock:
            unstarted, self._ready = list(self._ready), deque()
        if not unstarted:
            return
        with self._write() as db:
            db.executemany(
                "UPDATE deliveries SET attempts = attempts - 1, leased_until = 0 "
                "WHERE subscription = ? AND message_id = ?",
                [(subscription, delivery.message_id) for subscription, delivery in unstarted],
            )
        with self._wakeup:
            self._in_flight -= len(unstarted)

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._wakeup:
                arrivals = self._arrivals
            try:
                delivered = self.deliver_one(defer_ack=True)
            except sqlite3.Error:
                log.exception("embedded bus: database error; retrying")
                delivered = False
            if not delivered:
                with self._wakeup:
                    if self._arrivals == arrivals:
                        self._wakeup.wait(self.poll_interval)

    def deliver_one(self, *, defer_ack: bool = False) -> bool:
        """Deliver one due message to its handler; False when nothing is due.

        With ``defer_ack`` (the workers), the acknowledgement is committed with the next write of any
        thread, normally this worker's next claim, rather than in a transaction of its own. Until it
        is committed the delivery still counts as in flight, so ``drain`` waits for it, and should
        that commit fail the lease runs out and the message is delivered again, as after a crash.
        """
        claimed = self._claim()
        if claimed is None:
            return False
        subscription, delivery = claimed
        try:
            self._handlers[subscription](delivery)
        except Exception as exc:
            try:
                self._nack(subscription, delivery, exc)
            finally:
                self._settled()
            return True
        if not defer_ack:
            try:
                self._ack(subscription, delivery.message_id)
            finally:
                self._settled()
            return True

        def settled(error: BaseException | None) -> None:
            if error is not None:
                log.error(
                    "embedded bus: acknowledgement not committed; the message will be delivered again",
                    exc_info=error,
                    extra={"subscription": subscription, "message_id": delivery.message_id},
                )
            self._settled()

        self._queue_write(lambda db: self._remove(db, subscription, delivery.message_id), settled)
        return True

    def _settled(self) -> None:
        with self._wakeup:
            self._in_flight -= 1
            self._wakeup.notify_all()

    def _claim(self) -> tuple[str, Delivery] | None:
        """The next due delivery, leased to this process. A claim leases up to one delivery per worker
        in the same transaction; the ones this worker does not take wait in ``_ready`` for the others."""
        with self._ready_lock:
            if self._ready:
                return self._ready.popleft()
        if not self._handlers:
            return None
        now = time.time()
        names = list(self._handlers)
        limit = max(1, len(self._workers))
        rows = self._grouped(lambda db: self._lease_due(db, names, now, limit))
        if not rows:
            return None
        claimed = [
            (
                subscription,
                Delivery(
                    topic=topic,
                    data=bytes(data),
                    attributes=json.loads(attributes),
                    message_id=message_id,
                    delivery_attempt=attempts + 1,
                    publish_time=datetime.fromtimestamp(published_at, UTC),
                ),
            )
            for subscription, message_id, attempts, topic, data, attributes, published_at in rows
        ]
        with self._wakeup:
            self._in_flight += len(claimed)
            if len(claimed) > 1:
                with self._ready_lock:
                    self._ready.extend(claimed[1:])
                self._arrivals += 1
                self._wakeup.notify_all()
        return claimed[0]

    def _lease_due(
        self, db: sqlite3.Connection, names: list[str], now: float, limit: int
    ) -> list[tuple[Any, ...]]:
        # One indexed probe per subscription, without the message bodies: a single query over every
        # subscription sorted all of their deliveries, bodies joined in, on every claim, which made a
        # backlog of n messages cost n^2.
        probe = (
            "SELECT * FROM (SELECT subscription, message_id, attempts, not_before FROM deliveries "
            "WHERE subscription = ? AND not_before <= ? AND leased_until <= ? "
            "ORDER BY not_before LIMIT ?)"
        )
        params: list[object] = []
        for name in names:
            params += [name, now, now, limit]
        due = db.execute(
            " UNION ALL ".join([probe] * len(names)) + " ORDER BY not_before LIMIT ?", [*params, limit]
        ).fetchall()
        leased = []
        for subscription, message_id, attempts, _ in due:
            topic, data, attributes, published_at = db.execute(
                "SELECT topic, data, attributes, published_at FROM messages WHERE message_id = ?",
                (message_id,),
            ).fetchone()
            db.execute(
                "UPDATE deliveries SET attempts = ?, leased_until = ? "
                "WHERE subscription = ? AND message_id = ?",
                (attempts + 1, now + self.ack_deadline, subscription, message_id),
            )
            leased.append((subscription, message_id, attempts, topic, data, attributes, published_at))
        return leased

    def _ack(self, subscription: str, message_id: str) -> None:
        self._grouped(lambda db: self._remove(db, subscription, message_id))

    def _nack(self, subscription: str, delivery: Delivery, error: Exception) -> None:
        reason = f"{type(error).__name__}: {error}"[:1000]
        with self._write() as db:
            if isinstance(error, BusyError):
                # Give the attempt back: overload says nothing about the message.
                db.execute(
                    "UPDATE deliveries SET attempts = attempts - 1, not_before = ?, leased_until = 0, "
                    "last_error = ? WHERE subscription = ? AND message_id = ?",
                    (
                        time.time() + self.busy_backoff * random.uniform(0.8, 1.2),
                        reason,
                        subscription,
                        delivery.message_id,
                    ),
                )
                return
            dead_topic = db.execute(
                "SELECT dead_letter_topic FROM subscriptions WHERE name = ?", (subscription,)
            ).fetchone()[0]
            # Without a dead-letter topic (a subscriber of one), a message is retried, never dropped.
            if delivery.delivery_attempt < self.max_attempts or not dead_topic:
                backoff = min(self.max_backoff, self.min_backoff * 2 ** (delivery.delivery_attempt - 1))
                db.execute(
                    "UPDATE deliveries SET not_before = ?, leased_until = 0, last_error = ? "
                    "WHERE subscription = ? AND message_id = ?",
                    (
                        time.time() + backoff * random.uniform(0.8, 1.2),
                        reason,
                        subscription,
                        delivery.message_id,
                    ),
                )
                return
            self._remove(db, subscription, delivery.message_id)
            if dead_topic:  # moved in the same transaction: a crash cannot lose it or keep both
                attributes = {
                    **delivery.attributes,
                    "CloudPubSubDeadLetterSourceSubscription": subscription,
                    "CloudPubSubDeadLetterSourceDeliveryCount": str(delivery.delivery_attempt),
                    "svmflow_error": dead_letter_reason(delivery.delivery_attempt, reason),
                }
                self._enqueue(db, dead_topic, delivery.data, attributes)
        log.warning(
            "dead-lettered after %d attempts",
            delivery.delivery_attempt,
            extra={
                "subscription": subscription,
                "message_id": delivery.message_id,
                "error": reason,
            },
        )

    @staticmethod
    def _remove(db: sqlite3.Connection, subscription: str, message_id: str) -> None:
        db.execute(
            "DELETE FROM deliveries WHERE subscription = ? AND message_id = ?",
            (subscription, message_id),
        )
        db.execute(
            "DELETE FROM messages WHERE message_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM deliveries WHERE message_id = ?)",
            (message_id, message_id),
        )

    def redeliver_owed(self, to_subscription: str) -> int:
        """Queue for ``to_subscription`` every message of its topic still owed to another subscription.

        The embedded read model lives in memory: after a restart, a batch whose cache write was
        acknowledged before the crash, but whose database write was not, is in neither the read model
        nor (yet) the database the rebuild reads. Delivering it to the cache again closes that gap; the
        cache's writes are idempotent. Returns how many messages were queued again."""
        with self._write() as db:
            topic = db.execute(
                "SELECT topic FROM subscriptions WHERE name = ?", (to_subscription,)
            ).fetchone()
            if topic is None:
                return 0
            cursor = db.execute(
                "INSERT OR IGNORE INTO deliveries (subscription, message_id, not_before) "
                "SELECT DISTINCT ?, m.message_id, ? FROM messages m JOIN deliveries d USING (message_id) "
                "WHERE m.topic = ? AND d.subscription != ?",
                (to_subscription, time.time(), topic[0], to_subscription),
            )
            return int(cursor.rowcount)

    def pending(self) -> int:
        """Deliveries still owed to the handlers registered in this process."""
        if not self._handlers:
            return 0
        names = list(self._handlers)
        marks = ",".join("?" * len(names))
        row = (
            self._conn()
            .execute(
                f"SELECT COUNT(*) FROM deliveries WHERE subscription IN ({marks})",  # noqa: S608
                names,
            )
            .fetchone()
        )
        return int(row[0])

    def busy(self) -> bool:
        """Whether this process is handling, or owes, a delivery."""
        return bool(self._in_flight or self.pending())

    def drain(self, timeout: float = 30.0) -> None:
        """Block until every message owed to a local handler is acknowledged or dead-lettered."""
        deadline = time.monotonic() + timeout
        while self.pending() or self._in_flight:
            if time.monotonic() > deadline:
                raise TimeoutError(f"bus not drained after {timeout}s: {self.pending()} pending")
            if not self._workers:
                if not self.deliver_one():
                    time.sleep(0.01)
                continue
            with self._wakeup:
                self._wakeup.wait(0.05)

    # -- dead letters ------------------------------------------------------------------------

    def list_dead_letters(self) -> list[DeadLetter]:
        # Only the operator's subscriptions: a function subscribed to a dead-letter topic (to record
        # the failure) holds its own deliveries of the same messages.
        names = [dead_letter_subscription(topic) for topic in topology.TOPICS]
        marks = ",".join("?" * len(names))
        query = (
            "SELECT s.topic, m.message_id, m.data, m.attributes FROM deliveries d "  # noqa: S608
            "JOIN messages m USING (message_id) JOIN subscriptions s ON s.name = d.subscription "
            f"WHERE d.subscription IN ({marks}) ORDER BY m.published_at"
        )
        rows = self._conn().execute(query, names).fetchall()
        letters = []
        for dead_topic, message_id, data, attributes in rows:
            attrs = json.loads(attributes)
            letters.append(
                DeadLetter(
                    topic=dead_topic.removesuffix(DEAD_LETTER_SUFFIX),
                    message_id=message_id,
                    data=bytes(data),
                    attributes=attrs,
                    reason=attrs.get("svmflow_error", "delivery attempts exhausted"),
                )
            )
        return letters

    def replay(self, message_ids: set[str] | None = None) -> list[DeadLetter]:
        """Publish dead letters again to the topic they came from, then drop them."""
        replayed = []
        for letter in self.list_dead_letters():
            if message_ids is not None and letter.message_id not in message_ids:
                continue
            attributes = {
                k: v
                for k, v in letter.attributes.items()
                if not k.startswith("CloudPubSub") and k != "svmflow_error"
            }
            with self._write() as db:
                self._enqueue(db, letter.topic, letter.data, attributes)
                self._remove(db, dead_letter_subscription(letter.topic), letter.message_id)
            replayed.append(letter)
        if replayed:
            with self._wakeup:
                self._arrivals += 1
                self._wakeup.notify_all()
        return replayed
