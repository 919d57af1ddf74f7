"""Engine, transactions and a dialect-neutral upsert."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from svmflow.db.tables import Base, ProcessedEvent


def make_engine(url: str, *, password: str | None = None, pool_size: int = 5) -> Engine:
    parsed = make_url(url)
    if password and not parsed.password:
        parsed = parsed.set(password=password)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    engine = create_engine(
        parsed,
        pool_size=pool_size,
        max_overflow=0,  # the Terraform sizing relies on pool_size being a hard cap per instance
        pool_pre_ping=True,
        pool_recycle=1800,
        connect_args={"connect_timeout": 5},
        # Claims and leases read `rowcount` of an INSERT; with psycopg 3 it is -1 once SQLAlchemy has
        # released the cursor unless it is kept on purpose.
        execution_options={"preserve_rowcount": True},
    )
    # An INSERT of many rows (a batch's predictions) goes out as multi-row VALUES statements of up to
    # 1,000 rows rather than one statement per row; psycopg 3 otherwise pipelines one per row, which
    # the server still parses and executes one by one.
    engine.dialect.use_insertmanyvalues_wo_returning = True
    return engine


def _sqlite_engine(url: Any) -> Engine:
    if url.database and url.database != ":memory:":
        from pathlib import Path

        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up front;
    # BEGIN IMMEDIATE avoids the lock-upgrade deadlock between concurrent writers.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        # As for the embedded bus: with WAL, NORMAL syncs at checkpoints rather than at every commit,
        # so a commit survives a crash of the process but not of the machine. A sync per commit held
        # every sink write of the local system for milliseconds.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; every timestamp stored here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        # SQLite has one writer at a time and every transaction here takes the write lock up front.
        # Threads of this process queue on a lock rather than in SQLite's busy handler, which sleeps
        # up to 100 ms between tries: under load that sleeping, not the writes, held the sinks back.
        self._sqlite_writer = threading.Lock() if self.dialect == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def create_schema(self) -> None:
        Base.metadata.create_all(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        if self._sqlite_writer is None:
            with self._sessions.begin() as session:
                yield session
            return
        with self._sqlite_writer, self._sessions.begin() as session:
            yield session

    def insert(self, table: Any) -> Any:
        """An INSERT that supports ``on_conflict_do_*`` on both dialects."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        if self.dialect == "sqlite":
            return sqlite.insert(table)
        return insert(table)

    def insert_ignore(self, session: Session, table: Any, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert rows, skipping those whose key exists."""
        if rows:
            session.connection().execute(self.insert(table).on_conflict_do_nothing(), rows)

    def insert_one_ignore(self, session: Session, table: Any, row: Mapping[str, Any]) -> bool:
        """Insert one row unless its key exists; True if it was new."""
        result = session.connection().execute(self.insert(table).on_conflict_do_nothing(), row)
        return result.rowcount == 1

    def claim_event(self, session: Session, consumer: str, event_id: str) -> bool:
        """True the first time this consumer sees this event; False on any redelivery.

        The row is written in the caller's transaction, so it commits or rolls back with the effects.
        Two concurrent deliveries serialise on the primary key: the loser sees the winner's row.
        """
        row = {"consumer": consumer, "event_id": event_id, "processed_at": datetime.now(UTC)}
        return self.insert_one_ignore(session, ProcessedEvent, row)
