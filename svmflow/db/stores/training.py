"""What a training reads from and writes to the database: its rows, the quarantine rules' verdicts,
the tests counted against a champion and the targets for the next retrain."""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow.db import queries
from svmflow.db.database import Database
from svmflow.db.queries import StoredRow
from svmflow.db.tables import RetrainState


class TrainingStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def rows(self) -> tuple[list[StoredRow], int]:
        """Every training row, oldest label first, and the number of labels ever counted."""
        with self.db.transaction() as session:
            return queries.stored_rows(session), queries.labels_total(session)

    def apply_rule_statuses(self, changes: dict[int, str | None]) -> None:
        with self.db.transaction() as session:
            queries.apply_rule_statuses(session, changes)

    def tests_so_far(self, champion: str) -> int:
        with self.db.transaction() as session:
            return queries.tests_so_far(session, champion)

    def count_test(self, champion: str) -> int:
        with self.db.transaction() as session:
            return queries.count_test(session, self.db.insert, champion, datetime.now(UTC))

    def set_retrain_targets(self, labels_needed: int | None, reference_error: float) -> None:
        with self.db.transaction() as session:
            self.db.insert_ignore(session, RetrainState, [queries.initial_retrain_state(datetime.now(UTC))])
            queries.set_retrain_targets(session, labels_needed, reference_error)
