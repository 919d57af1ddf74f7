"""prediction-to-db: persist every prediction (the features too: they become training rows)."""

from __future__ import annotations

from svmflow.contracts import Predictions
from svmflow.db.database import Database
from svmflow.db.stores.predictions import PredictionStore
from svmflow.messaging import EventContext

CONSUMER = "prediction_to_db"


def handle(message: Predictions, context: EventContext, *, db: Database) -> None:
    """Keyed by (batch_id, subject). If a batch was predicted twice (a redelivery after a model swap),
    the earliest prediction wins, the same rule the cache applies, so the two always agree."""
    PredictionStore(db).record(message, CONSUMER, context.event_id)
