"""Transport-independent message envelopes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Delivery:
    """One delivery of one message to one subscriber, however it arrived."""

    topic: str
    data: bytes
    attributes: dict[str, str]
    message_id: str
    delivery_attempt: int = 1
    publish_time: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # the topic the message was first published to
    message_id: str
    data: bytes
    attributes: dict[str, str]
    reason: str
