"""Dead letters in the read model, shared by the recording and replay functions, the read-model rebuild
and the CLI: listed (their batch failed) while they wait, and on replay published again to the topic
they came from, recorded as replayed, and taken out of the read model (their batch pending again)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from svmflow import topology
from svmflow.contracts import DeadLetterReplay
from svmflow.db.database import Database, as_utc
from svmflow.db.stores.dead_letters import DeadLetterRow, DeadLetterStore
from svmflow.db.tables import DeadLetterRecord
from svmflow.messaging import DeadLetter, publish
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel
from svmflow.views import BatchFailed, DeadLetterView

DEFAULT_REASON = "delivery attempts exhausted"


class RequestHead(msgspec.Struct):
    """What a dead-lettered prediction request's batch needs from it, read leniently: the request may
    be malformed (that may be why it was dead-lettered)."""

    batch_id: str | None = None
    submitted_at: datetime | None = None
    bulk: dict[str, object] | None = None


HeadT = TypeVar("HeadT", bound=RequestHead)


def request_head(data: bytes, head_type: type[HeadT]) -> HeadT:
    """``data`` decoded as ``head_type``, or an empty head when it does not decode."""
    try:
        return msgspec.json.decode(data, type=head_type)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return head_type()


def forget(read_model: ReadModel, message_id: str, batch_id: str | None) -> None:
    """A replayed dead letter leaves the listing, and its batch is pending again."""
    read_model.remove_dead_letter(message_id)
    if batch_id:
        read_model.clear_failure(batch_id)


def view_of(row: DeadLetterRecord) -> DeadLetterView:
    attempts = row.attributes.get("CloudPubSubDeadLetterSourceDeliveryCount")
    return DeadLetterView(
        message_id=row.message_id,
        topic=row.topic,
        reason=row.reason,
        batch_id=row.batch_id,
        function=row.attributes.get("svmflow_function")
        or _function_of(row.attributes.get("CloudPubSubDeadLetterSourceSubscription", "")),
        delivery_attempts=int(attempts) if attempts and attempts.isdigit() else None,
        dead_lettered_at=as_utc(row.dead_lettered_at),
    )


def _function_of(subscription: str) -> str | None:
    name = subscription.rsplit("/", 1)[-1].removesuffix("-sub").replace("-", "_")
    return name if name in topology.FUNCTIONS else None


def failure_of(row: DeadLetterRecord) -> BatchFailed:
    assert row.batch_id is not None
    return BatchFailed(
        batch_id=row.batch_id,
        reason=row.reason,
        dead_letter_id=row.message_id,
        submitted_at=as_utc(row.submitted_at) if row.submitted_at else None,
        failed_at=as_utc(row.dead_lettered_at),
    )


def show(row: DeadLetterRecord, read_model: ReadModel, predicted: bool) -> None:
    """Put a recorded, unreplayed dead letter in the read model (also used by the rebuild)."""
    read_model.put_dead_letter(view_of(row))
    if row.batch_id and not predicted:
        read_model.fail_batch(failure_of(row))


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
