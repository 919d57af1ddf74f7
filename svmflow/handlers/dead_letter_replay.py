"""dead-letter-replay: an operator's replay, asked through the predict API, carried out.

The dead letter is published again to the topic it came from and leaves the dead-letter subscription;
the database records when; the read model stops listing it and, for a prediction request, shows its
batch pending again until the prediction arrives.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from svmflow.contracts import DeadLetterReplay
from svmflow.db.database import Database
from svmflow.db.stores.dead_letters import DeadLetterStore
from svmflow.dead_letters import forget_replayed, record_row
from svmflow.errors import TransientError
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel

log = logging.getLogger(__name__)

# Deliveries of one command that may find the dead letter missing before it is given up: the
# subscription may hand it out late (another reader holds it for a moment).
ATTEMPTS_BEFORE_MISSING = 3


def handle(
    command: DeadLetterReplay,
    context: EventContext,
    *,
    dead_letters: Any,
    db: Database,
    read_model: ReadModel,
) -> None:
    """Keyed by the dead letter's message id. Its database row is locked while it is replayed, so
    concurrent deliveries of the command replay it once: the others find it replayed."""
    message_id = command.message_id
    store = DeadLetterStore(db)
    # The row exists before it is locked, even if the recording function has not run yet.
    store.add_if_missing([record_row(message_id, command.topic, {}, None)])
    with store.locked(message_id) as letter:
        if not letter.replayed:
            replayed = dead_letters.replay({message_id})
            if not replayed and context.delivery_attempt < ATTEMPTS_BEFORE_MISSING:
                raise TransientError(f"dead letter {message_id} not handed out yet; retrying")
            batch_id = None
            if replayed:
                log.info("dead letter replayed", extra={"message_id": message_id, "topic": command.topic})
                batch_id = replayed[0].attributes.get("batch_id")
            else:  # gone from its subscription (replayed another way, or expired)
                log.warning(
                    "dead letter no longer in its dead-letter subscription; removed from the listing",
                    extra={"message_id": message_id, "topic": command.topic},
                )
            letter.mark_replayed(batch_id, datetime.now(UTC))
    forget_replayed(db, read_model, [message_id])
