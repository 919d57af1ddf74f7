"""Replaying dead letters, shared by the replay function and the CLI: publish each again to the topic
it came from, record when in the database, and take it out of the read model (its batch, if it has
one, is pending again)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from svmflow import topology
from svmflow.contracts import DeadLetterReplay
from svmflow.db.database import Database
from svmflow.db.stores.dead_letters import DeadLetterRow, DeadLetterStore
from svmflow.handlers.prediction_dead_letters import DEFAULT_REASON, forget
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel
from svmflow.runtime.messages import DeadLetter
from svmflow.runtime.processor import publish


def mark_replayed(
    db: Database,
    read_model: ReadModel,
    replayed: Iterable[DeadLetter],
) -> None:
    """Record ``replayed`` as replayed now. A dead letter not recorded yet gets a row too, so its late
    delivery to the recording function changes nothing."""
    now = datetime.now(UTC)
    rows: dict[str, DeadLetterRow] = {}
    for letter in replayed:
        rows[letter.message_id] = record_row(letter.message_id, letter.topic, letter.attributes, now)
    if not rows:
        return
    DeadLetterStore(db).mark_replayed(rows, now)
    forget_replayed(db, read_model, rows)


def forget_replayed(db: Database, read_model: ReadModel, message_ids: Iterable[str]) -> None:
    ids = list(message_ids)
    batches = DeadLetterStore(db).batches_of(ids)
    for message_id in ids:
        forget(read_model, message_id, batches.get(message_id))


def replay(container: Any, message_ids: set[str] | None = None) -> list[DeadLetter]:
    """Replay now (the CLI): every dead letter, or those named."""
    replayed: list[DeadLetter] = container.dead_letters.replay(message_ids)
    mark_replayed(container.db, container.read_model, replayed)
    return replayed


def announce(publisher: Publisher, replayed: Iterable[DeadLetter], requested_by: str = "cli") -> None:
    """Publish a replay command per dead letter already replayed: the replay function finds each one
    recorded as replayed and only updates its read model."""
    for letter in replayed:
        command = DeadLetterReplay(
            request_id=uuid.uuid4().hex,
            message_id=letter.message_id,
            topic=letter.topic,
            requested_by=requested_by,
            requested_at=datetime.now(UTC),
        )
        publish(publisher, topology.DEAD_LETTER_REPLAYS, command)


def record_row(
    message_id: str, topic: str, attributes: dict[str, str], replayed_at: datetime | None
) -> DeadLetterRow:
    """A dead letter's row as far as a replay knows it (the recording function knows more)."""
    now = datetime.now(UTC)
    batch_id = attributes.get("batch_id")
    return {
        "message_id": message_id,
        "topic": topic,
        "batch_id": batch_id[:128] if batch_id else None,
        "reason": attributes.get("svmflow_error", DEFAULT_REASON)[:1000],
        "attributes": attributes,
        "submitted_at": None,
        "dead_lettered_at": now,
        "replayed_at": replayed_at,
    }
