"""prediction-dead-letters: a prediction request that was dead-lettered fails its batch, visibly.

Subscribed to ``prediction-requests-dead-letter`` beside the operator's pull subscription. It records
the dead letter in the database (the source of truth a read-model rebuild restores it from), lists it
for the console, and marks the batch ``failed`` with the reason, unless the batch has a prediction
(a later success always wins) or the dead letter was replayed already (a late delivery changes nothing).
"""

from __future__ import annotations

import logging

from svmflow import topology
from svmflow.db.database import Database
from svmflow.db.stores.dead_letters import DeadLetterRow, DeadLetterStore
from svmflow.dead_letters import DEFAULT_REASON, RequestHead, forget, request_head, show
from svmflow.messaging import Delivery, EventContext
from svmflow.read_model import ReadModel

log = logging.getLogger(__name__)


def record_of(delivery: Delivery, topic: str) -> DeadLetterRow:
    """The database row of a dead letter of ``topic`` (the topic it was first published to)."""
    attributes = dict(delivery.attributes)
    head = (
        request_head(delivery.data, RequestHead) if topic == topology.PREDICTION_REQUESTS else RequestHead()
    )
    # A bulk file's chunk is not a batch of the read model; its job reports its own progress.
    batch_id = None if head.bulk is not None else (attributes.get("batch_id") or head.batch_id)
    return {
        "message_id": delivery.message_id,
        "topic": topic,
        "batch_id": batch_id[:128] if batch_id else None,
        "reason": attributes.get("svmflow_error", DEFAULT_REASON)[:1000],
        "attributes": attributes,
        "submitted_at": head.submitted_at,
        "dead_lettered_at": delivery.publish_time,
        "replayed_at": None,
    }


def handle(delivery: Delivery, context: EventContext, *, db: Database, read_model: ReadModel) -> None:
    """Keyed by the dead letter's message id; a redelivery writes the same values again."""
    topic = topology.source_topic(delivery.topic)
    store = DeadLetterStore(db)
    recorded = store.record(record_of(delivery, topic))
    if recorded is None:
        log.info("dead letter already replayed; nothing to record", extra={"message_id": delivery.message_id})
        return
    row, predicted = recorded
    show(row, read_model, predicted)
    # A replay that ran between the check above and these writes already cleared the read model:
    # clear it again, so a replayed dead letter never stays listed.
    if store.is_replayed(delivery.message_id):
        forget(read_model, row.message_id, row.batch_id)
