"""What both sides of the bus share: the envelopes, publishing a contract, and the trace context.

The APIs publish with it, the handlers receive an ``EventContext`` from it, and the transports (the
embedded bus, Pub/Sub, CloudEvents) build ``Delivery`` values of it; it knows none of them.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

from svmflow import contracts, telemetry
from svmflow.ports import Publisher

PUBLISH_TIMEOUT_SECONDS = 30.0

# W3C trace context: version-trace_id-parent_id-flags.
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")


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


class DeadLetters(Protocol):
    """Where dead letters wait for an operator: listed, and replayed to the topic they came from."""

    def list_dead_letters(self) -> list[DeadLetter]: ...

    def replay(self, message_ids: set[str] | None = None) -> list[DeadLetter]: ...


@dataclass(frozen=True)
class EventContext:
    event_id: str
    attributes: dict[str, str]
    delivery_attempt: int = 1
    data: bytes = b""  # the message as delivered, for handlers that forward part of it verbatim

    @property
    def batch_id(self) -> str | None:
        return self.attributes.get("batch_id")

    @property
    def traceparent(self) -> str | None:
        return self.attributes.get("traceparent")


def valid_traceparent(value: str | None) -> str | None:
    """``value`` if it is a well-formed ``traceparent``; a malformed one is dropped."""
    return value if value and TRACEPARENT.match(value) else None


def new_traceparent(parent: str | None = None) -> str:
    """A child span of ``parent``'s trace, or the root of a new trace."""
    trace_id = parent.split("-")[1] if parent and parent.count("-") == 3 else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def publish(
    publisher: Publisher,
    topic: str,
    message: contracts.Contract,
    *,
    batch_id: str | None = None,
    traceparent: str | None = None,
) -> str:
    """Publish and wait until the bus has accepted the message, so nothing is acknowledged early."""
    attributes = {
        "schema_version": str(contracts.SCHEMA_VERSION),
        # With telemetry on, the span in progress (the request's, or the function's) is the parent.
        "traceparent": telemetry.current_traceparent() or new_traceparent(traceparent),
    }
    if batch_id:
        attributes["batch_id"] = batch_id
    message_id: str = publisher.publish(topic, contracts.encode(message), attributes).result(
        timeout=PUBLISH_TIMEOUT_SECONDS
    )
    telemetry.published(topic, message)
    return message_id
