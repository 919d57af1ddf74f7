"""Standard Webhooks 1.0 signatures.

``webhook-signature`` is a space-separated list of ``v1,<base64 HMAC-SHA256>`` over
``{webhook-id}.{webhook-timestamp}.{body}``, one per active secret: during a rotation both the new and
the old secret sign, so a receiver holding either verifies. Secrets are ``whsec_`` followed by base64
(24 to 64 random bytes), as the specification recommends.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as random

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(random.token_bytes(32)).decode()


def secret_key(secret: str) -> bytes:
    text = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except ValueError as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if len(key) < 24:
        raise ValueError("a webhook secret needs at least 24 random bytes")
    return key


def parse_secrets(value: str) -> list[str]:
    """The secret as stored: one secret, or several separated by spaces or commas during a rotation
    (the newest first)."""
    found = [part for part in value.replace(",", " ").split() if part]
    if not found:
        raise ValueError("no webhook secret configured")
    for secret in found:
        secret_key(secret)
    return found


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, message_id, timestamp, body) for s in secrets),
        "content-type": "application/json",
    }
