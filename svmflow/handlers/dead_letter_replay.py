"""dead-letter-replay: an operator's replay, asked through the predict API, carried out.

The dead letter is published again to the topic it came from and leaves the dead-letter subscription;
the database records when; the read model stops listing it and, for a prediction request, shows its
batch pending again until the prediction arrives.
"""

from __future__ import annotations

import logging
from typing import Any

from svmflow.contracts import DeadLetterReplay
from svmflow.db.database import Database
from svmflow.dead_letters import already_replayed, forget_replayed, mark_replayed
from svmflow.errors import TransientError
from svmflow.read_model import ReadModel
from svmflow.runtime.processor import EventContext

log = logging.getLogger(__name__)

# Deliveries of one command that may find the dead letter missing before it is refused: the
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
    """Keyed by the dead letter's message id: once replayed, a redelivered command changes nothing."""
    if already_replayed(db, command.message_id):
        # The dead letter may still be listed if the earlier delivery stopped after the database write.
        forget_replayed(db, read_model, [command.message_id])
        log.info("dead letter already replayed", extra={"message_id": command.message_id})
        return
    replayed = dead_letters.replay({command.message_id})
    if replayed:
        mark_replayed(db, read_model, replayed)
        log.info("dead letter replayed", extra={"message_id": command.message_id, "topic": command.topic})
        return
    if context.delivery_attempt < ATTEMPTS_BEFORE_MISSING:
        raise TransientError(f"dead letter {command.message_id} not handed out yet; retrying")
    # Gone from its subscription (replayed another way, or expired): it is no longer listed either.
    mark_replayed(db, read_model, [], missing={command.message_id: command.topic})
    log.warning(
        "dead letter no longer in its dead-letter subscription; removed from the listing",
        extra={"message_id": command.message_id, "topic": command.topic},
    )
