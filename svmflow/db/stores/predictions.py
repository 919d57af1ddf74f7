"""Every prediction of a batch, features included (they become training rows once rated)."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from svmflow.contracts import Predictions
from svmflow.db.database import Database, as_utc
from svmflow.db.tables import Prediction, PredictionBatch


class BatchRow(TypedDict):
    batch_id: str
    model_version: str
    record_count: int
    submitted_at: datetime
    predicted_at: datetime


class PredictionRow(TypedDict):
    batch_id: str
    subject: str
    position: int
    features: list[float]
    label: int
    score: float


class PredictionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, message: Predictions, consumer: str, event_id: str) -> None:
        """Store the batch once per event. If a batch was predicted twice (a redelivery after a model
        swap), the earliest prediction wins, the same rule the cache applies, so the two always agree."""
        with self.db.transaction() as session:
            if not self.db.claim_event(session, consumer, event_id):
                return
            if not self._claim_batch(session, message):
                return
            session.connection().execute(self.db.insert(Prediction), _prediction_rows(message))

    def _claim_batch(self, session: Session, message: Predictions) -> bool:
        """Write the batch row, or replace a later-predicted one (and its predictions); False when the
        stored prediction is as early or earlier and stands."""
        batch = _batch_row(message)
        if self.db.insert_one_ignore(session, PredictionBatch, batch):
            return True
        existing = session.scalar(
            select(PredictionBatch).where(PredictionBatch.batch_id == message.batch_id).with_for_update()
        )
        if existing is None or as_utc(existing.predicted_at) <= message.predicted_at:
            return False
        for key, value in batch.items():
            setattr(existing, key, value)
        session.connection().execute(delete(Prediction).where(Prediction.batch_id == message.batch_id))
        return True


def _batch_row(message: Predictions) -> BatchRow:
    return {
        "batch_id": message.batch_id,
        "model_version": message.model_version,
        "record_count": len(message.subjects),
        "submitted_at": message.submitted_at,
        "predicted_at": message.predicted_at,
    }


def _prediction_rows(message: Predictions) -> list[PredictionRow]:
    return [
        {
            "batch_id": message.batch_id,
            "subject": subject,
            "position": position,
            "features": features,
            "label": label,
            "score": score,
        }
        for position, (subject, features, label, score) in enumerate(
            zip(message.subjects, message.features, message.labels, message.scores, strict=True)
        )
    ]
