"""webhook-retries: on each scheduler tick, attempt every completion webhook whose retry is due."""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow.contracts import WebhookTick
from svmflow.db.database import Database
from svmflow.read_model import ReadModel
from svmflow.runtime.processor import EventContext
from svmflow.webhooks import outbox


def handle(
    tick: WebhookTick, context: EventContext, *, db: Database, read_model: ReadModel, sender: outbox.Sender
) -> None:
    """Ticks carry nothing: a late or repeated one only finds less due (each attempt is claimed)."""
    for identifier in outbox.due(db, datetime.now(UTC)):
        outbox.attempt(db, read_model, sender, identifier)
