"""webhook-retries: on each scheduler tick, attempt every completion webhook whose retry is due."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from svmflow import webhook_deliveries
from svmflow.contracts import WebhookTick
from svmflow.db.database import Database
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel

# Below the function's timeout (infra/components.tf): what is left is the next tick's.
BUDGET_SECONDS = 240.0


def handle(
    tick: WebhookTick,
    context: EventContext,
    *,
    db: Database,
    read_model: ReadModel,
    webhook_sender: webhook_deliveries.Sender,
) -> None:
    """Ticks carry nothing: a late or repeated one only finds less due (each attempt is claimed)."""
    started = time.monotonic()
    for identifier in webhook_deliveries.due(db, datetime.now(UTC)):
        if time.monotonic() - started > BUDGET_SECONDS:
            return
        webhook_deliveries.attempt(db, read_model, webhook_sender, identifier)
