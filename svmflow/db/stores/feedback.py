"""Ratings in the database: the verdicts per (batch, subject) and the live performance they add up to."""

from __future__ import annotations

from svmflow.contracts import Feedback
from svmflow.db import performance
from svmflow.db.database import Database
from svmflow.db.queries import predictions_for
from svmflow.db.verdicts import record_verdicts
from svmflow.domain.performance import VersionPerformance


class FeedbackStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record_verdicts(self, message: Feedback, consumer: str, event_id: str) -> None:
        """Upsert the verdicts once per event (a newer rating of a subject replaces an older one)."""
        with self.db.transaction() as session:
            if self.db.claim_event(session, consumer, event_id):
                record_verdicts(self.db, session, message)

    def rate_and_recompute(
        self, message: Feedback, consumer: str, event_id: str
    ) -> VersionPerformance | None:
        """Record the verdicts and recompute the rated version's figures, once per event; on a
        redelivery only read them. None if none of the version's predictions was ever rated."""
        with self.db.transaction() as session:
            if self.db.claim_event(session, consumer, event_id):
                version = record_verdicts(self.db, session, message)
                performance.recompute(self.db, session, version)
            else:
                batch, _ = predictions_for(session, message.batch_id, message.subjects)
                version = batch.model_version
            return performance.load(session, version)
