"""prediction-to-db: persist every prediction (the features too: they become training rows)."""

from __future__ import annotations

from sqlalchemy import delete, select

from svmflow.contracts import Predictions
from svmflow.db.database import Database, as_utc
from svmflow.db.tables import Prediction, PredictionBatch
from svmflow.messaging import EventContext

CONSUMER = "prediction_to_db"


def handle(message: Predictions, context: EventContext, *, db: Database) -> None:
    """Keyed by (batch_id, subject). If a batch was predicted twice (a redelivery after a model swap),
    the earliest prediction wins, the same rule the cache applies, so the two always agree."""
    batch = {
        "batch_id": message.batch_id,
        "model_version": message.model_version,
        "record_count": len(message.subjects),
        "submitted_at": message.submitted_at,
        "predicted_at": message.predicted_at,
    }
    with db.transaction() as session:
        if not db.claim_event(session, CONSUMER, context.event_id):
            return
        if not db.insert_one_ignore(session, PredictionBatch, batch):
            existing = session.scalar(
                select(PredictionBatch).where(PredictionBatch.batch_id == message.batch_id).with_for_update()
            )
            if existing is None or as_utc(existing.predicted_at) <= message.predicted_at:
                return
            for key, value in batch.items():
                setattr(existing, key, value)
            session.connection().execute(delete(Prediction).where(Prediction.batch_id == message.batch_id))
        session.connection().execute(
            db.insert(Prediction),
            [
                {
                    "batch_id": message.batch_id,
                    "subject": subject,
                    "position": position,
                    "features": features,
                    "label": label,
                    "score": score,
                }
                for position, (subject, features, label, score) in enumerate(
                    zip(
                        message.subjects,
                        message.features,
                        message.labels,
                        message.scores,
                        strict=True,
                    )
                )
            ],
        )
