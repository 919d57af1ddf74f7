"""batch-done-webhooks: a predicted batch that named a callback URL gets a signed ``batch.done``
notification; the first attempt is made at once, retries on the scheduler's tick."""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow.contracts import Predictions
from svmflow.db.database import Database
from svmflow.read_model import ReadModel
from svmflow.runtime.processor import EventContext
from svmflow.webhooks import outbox


def handle(
    message: Predictions, context: EventContext, *, db: Database, read_model: ReadModel, sender: outbox.Sender
) -> None:
    """Keyed by batch and event: a redelivery records nothing new and attempts only what is due."""
    if message.callback_url is None:
        return
    body = outbox.event_body(
        outbox.BATCH_DONE,
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
    identifier = outbox.record(
        db, message.batch_id, outbox.BATCH_DONE, message.callback_url, body, datetime.now(UTC)
    )
    outbox.project(db, read_model, message.batch_id)
    outbox.attempt(db, read_model, sender, identifier)
