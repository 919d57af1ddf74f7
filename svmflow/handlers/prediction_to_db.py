"""prediction-to-db: persist every prediction (the features too: they become training rows)."""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow import topology
from svmflow.contracts import Predictions, ShadowScores, TrainingRequest
from svmflow.db import shadow
from svmflow.db.database import Database
from svmflow.db.stores.predictions import PredictionStore
from svmflow.messaging import EventContext, publish
from svmflow.ports import Publisher
from svmflow.shadow_promotion import REQUEST_PREFIX

CONSUMER = "prediction_to_db"


def handle(
    message: Predictions, context: EventContext, *, db: Database, publisher: Publisher | None = None
) -> None:
    """Keyed by (batch_id, subject). If a batch was predicted twice (a redelivery after a model swap),
    the earliest prediction wins, the same rule the cache applies, so the two always agree. A batch the
    model in shadow scored too is counted towards its promotion (once per batch and shadow version)."""
    PredictionStore(db).record(message, CONSUMER, context.event_id)
    if message.shadow is not None:
        with db.transaction() as session:
            shadow.record(db, session, message.batch_id, message.shadow)
        if publisher is not None:
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
