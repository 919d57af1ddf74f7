"""Dead letters in the database: the record a read-model rebuild restores them from, and when each was
replayed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypedDict

from sqlalchemy import select

from svmflow.db.database import Database
from svmflow.db.tables import DeadLetterRecord, PredictionBatch


class DeadLetterRow(TypedDict):
    message_id: str
    topic: str
    batch_id: str | None
    reason: str
    attributes: dict[str, str]
    submitted_at: datetime | None
    dead_lettered_at: datetime
    replayed_at: datetime | None


class LockedDeadLetter:
    """A dead letter's row, locked for the transaction: concurrent replays of it serialise here."""

    def __init__(self, row: DeadLetterRecord) -> None:
        self._row = row

    @property
    def replayed(self) -> bool:
        return self._row.replayed_at is not None

    def mark_replayed(self, batch_id: str | None, now: datetime) -> None:
        """Replayed now; the batch it belongs to is kept if the row did not know it yet."""
        self._row.batch_id = self._row.batch_id or (batch_id[:128] if batch_id else None)
        self._row.replayed_at = now


class DeadLetterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, record: DeadLetterRow) -> tuple[DeadLetterRecord, bool] | None:
        """Record a dead letter (filling in a replay's placeholder); None if it was replayed already,
        else its row and whether its batch has a prediction since."""
        with self.db.transaction() as session:
            self.db.insert_one_ignore(session, DeadLetterRecord, record)
            row = session.get(DeadLetterRecord, record["message_id"])
            assert row is not None
            if not row.attributes:  # a replay's placeholder, written before this message arrived
                row.batch_id = record["batch_id"]
                row.reason = record["reason"]
                row.attributes = dict(record["attributes"])
                row.submitted_at = record["submitted_at"]
                row.dead_lettered_at = record["dead_lettered_at"]
            if row.replayed_at is not None:
                return None
            predicted = bool(row.batch_id) and session.get(PredictionBatch, row.batch_id) is not None
            session.expunge(row)
        return row, predicted

    def is_replayed(self, message_id: str) -> bool:
        with self.db.transaction() as session:
            row = session.get(DeadLetterRecord, message_id)
            return row is not None and row.replayed_at is not None

    def add_if_missing(self, rows: Iterable[DeadLetterRow]) -> None:
        with self.db.transaction() as session:
            self.db.insert_ignore(session, DeadLetterRecord, list(rows))

    @contextmanager
    def locked(self, message_id: str) -> Iterator[LockedDeadLetter]:
        with self.db.transaction() as session:
            row = session.scalar(
                select(DeadLetterRecord).where(DeadLetterRecord.message_id == message_id).with_for_update()
            )
            assert row is not None
            yield LockedDeadLetter(row)

    def mark_replayed(self, rows: dict[str, DeadLetterRow], now: datetime) -> None:
        """Record these dead letters as replayed ``now``; one not recorded yet gets its row too."""
        with self.db.transaction() as session:
            self.db.insert_ignore(session, DeadLetterRecord, list(rows.values()))
            for row in session.scalars(
                select(DeadLetterRecord).where(DeadLetterRecord.message_id.in_(rows)).with_for_update()
            ):
                if row.replayed_at is None:
                    row.replayed_at = now

    def batches_of(self, message_ids: list[str]) -> dict[str, str | None]:
        with self.db.transaction() as session:
            return {
                row.message_id: row.batch_id
                for row in session.scalars(
                    select(DeadLetterRecord).where(DeadLetterRecord.message_id.in_(message_ids))
                )
            }
