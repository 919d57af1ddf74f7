"""Pub/Sub CloudEvents (Eventarc, or functions-framework's conversion of an emulator push) to deliveries."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from svmflow.errors import PermanentError
from svmflow.messaging import Delivery


def delivery_from_cloud_event(event: Any, topic: str) -> Delivery:
    data = event.data if isinstance(event.data, dict) else {}
    message = data.get("message")
    if not isinstance(message, dict):
        raise PermanentError("CloudEvent carries no Pub/Sub message")
    try:
        payload = base64.b64decode(message.get("data") or "", validate=True)
    except (ValueError, TypeError) as exc:
        raise PermanentError("Pub/Sub message data is not base64") from exc
    message_id = message.get("messageId") or message.get("message_id") or event["id"]
    attempt = data.get("deliveryAttempt") or 1
    published = message.get("publishTime") or message.get("publish_time")
    return Delivery(
        topic=topic,
        data=payload,
        attributes={str(k): str(v) for k, v in (message.get("attributes") or {}).items()},
        message_id=str(message_id),
        delivery_attempt=int(attempt),
        publish_time=_parse_time(published),
    )


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return datetime.now(UTC)
