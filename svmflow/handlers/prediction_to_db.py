"""prediction-to-db: persist every prediction (the features too: they become training rows)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select

from svmflow import topology
from svmflow.contracts import Predictions, ShadowScores, TrainingRequest
from svmflow.db import shadow
from svmflow.db.database import Database, as_utc
from svmflow.db.tables import Prediction, PredictionBatch
from svmflow.messaging import EventContext, publish
from svmflow.ports import Publisher
from svmflow.shadow_promotion import REQUEST_PREFIX

CONSUMER = "prediction_to_db"


def handle(
    message: Predictions, context: EventContext, *, db: Database, publisher: Publisher | None = None
) -> None:
    """Keyed by (batch_id, subject). If a batch was predicted twice (a redelivery after a model swap),
    the earliest prediction wins, the same rule the cache applies, so the two always agree. A batch the
    model in shadow scored too is counted towards its promotion."""
    _store(message, context, db)
    if message.shadow is not None and publisher is not None:
        _promote_when_scored(message.shadow, context, db, publisher)


def _promote_when_scored(
    scores: ShadowScores, context: EventContext, db: Database, publisher: Publisher
) -> None:
    """Asked again by every later batch (and a redelivery) until the shadow is promoted and the
    prediction function stops scoring with it: the training function promotes it once, by request id."""
    with db.transaction() as session:
        scored = shadow.totals(session, scores.version).records
    if scored < scores.promote_after:
        return
    request = TrainingRequest(
        request_id=f"{REQUEST_PREFIX}{scores.version}", reason="shadow", requested_at=datetime.now(UTC)
    )
    publish(publisher, topology.TRAINING_REQUESTS, request, traceparent=context.traceparent)


def _store(message: Predictions, context: EventContext, db: Database) -> None:
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
        if message.shadow is not None:
            shadow.record(db, session, message.batch_id, message.shadow)
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
