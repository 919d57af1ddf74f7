"""batch-done-webhooks: a predicted batch that named a callback URL gets a signed ``batch.done``
notification; the first attempt is made at once, retries on the scheduler's tick."""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow import webhook_deliveries
from svmflow.contracts import Predictions
from svmflow.db.database import Database
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel


def handle(
    message: Predictions,
    context: EventContext,
    *,
    db: Database,
    read_model: ReadModel,
    webhook_sender: webhook_deliveries.Sender,
) -> None:
    """Keyed by batch and event: a redelivery records nothing new and attempts only what is due."""
    if message.callback_url is None:
        return
    body = webhook_deliveries.event_body(
        webhook_deliveries.BATCH_DONE,
        message.predicted_at,
        {
            "batch_id": message.batch_id,
            "status": "done",
            "model_version": message.model_version,
            "record_count": len(message.subjects),
            "submitted_at": message.submitted_at,
            "predicted_at": message.predicted_at,
        },
    )
    identifier = webhook_deliveries.record(
        db, message.batch_id, webhook_deliveries.BATCH_DONE, message.callback_url, body, datetime.now(UTC)
    )
    webhook_deliveries.project(db, read_model, message.batch_id)
    webhook_deliveries.attempt(db, read_model, webhook_sender, identifier)
