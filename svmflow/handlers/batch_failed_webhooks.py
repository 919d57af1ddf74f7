"""batch-failed-webhooks: a dead-lettered prediction request whose batch named a callback URL gets a
signed ``batch.failed`` notification with the reason, unless the batch was predicted after all.

Subscribed to ``prediction-requests-dead-letter`` beside prediction-dead-letters. A dead letter need
not decode (that may be why it was dead-lettered), so only what the notification needs is read, leniently.
"""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow import webhook_deliveries
from svmflow.db.database import Database
from svmflow.db.tables import PredictionBatch
from svmflow.dead_letters import DEFAULT_REASON, RequestHead, request_head
from svmflow.messaging import Delivery, EventContext
from svmflow.read_model import ReadModel


class _Head(RequestHead):
    callback_url: str | None = None


def handle(
    delivery: Delivery,
    context: EventContext,
    *,
    db: Database,
    read_model: ReadModel,
    webhook_sender: webhook_deliveries.Sender,
) -> None:
    head = request_head(delivery.data, _Head)
    batch_id = delivery.attributes.get("batch_id") or head.batch_id
    if head.bulk is not None or not batch_id or not head.callback_url:
        return
    batch_id = batch_id[:128]
    with db.transaction() as session:
        if session.get(PredictionBatch, batch_id) is not None:
            return  # a later success wins: its batch.done notification is the one that counts
    body = webhook_deliveries.event_body(
        webhook_deliveries.BATCH_FAILED,
        delivery.publish_time,
        {
            "batch_id": batch_id,
            "status": "failed",
            "reason": delivery.attributes.get("svmflow_error", DEFAULT_REASON)[:1000],
            "submitted_at": head.submitted_at,
            "failed_at": delivery.publish_time,
        },
    )
    identifier = webhook_deliveries.record(
        db, batch_id, webhook_deliveries.BATCH_FAILED, head.callback_url, body, datetime.now(UTC)
    )
    webhook_deliveries.project(db, read_model, batch_id)
    webhook_deliveries.attempt(db, read_model, webhook_sender, identifier)
