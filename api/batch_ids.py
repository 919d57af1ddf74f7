"""Batch ids the predict API can check without any state: ``<nonce>-<tag>``.

The ingest API issues ``nonce`` (96 bits, hex) and ``tag = HMAC-SHA256(id-signing-key, nonce)`` cut to
96 bits. The predict API recomputes the tag: an id it did not sign is a 404 without a Redis lookup, and
an id it did sign but whose results are not in yet is "pending". Forging an id takes the signing key.

Nonces are random, except under an ``Idempotency-Key``: then the nonce is an HMAC of the caller's
identity and that key, so a retried request gets the same id (see ``api/README.md``, Idempotency).

The ``id-signing-key`` secret may list several keys (comma or newline separated): the first signs, all
verify, so the key can be rotated without invalidating ids already handed out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading

from svmflow.ports import Secrets

SECRET_NAME = "id-signing-key"  # noqa: S105 (the name of a secret, not its value)
NONCE_BYTES = 12
TAG_BYTES = 12
_SHAPE = re.compile(rf"^(?P<nonce>[0-9a-f]{{{NONCE_BYTES * 2}}})-(?P<tag>[0-9a-f]{{{TAG_BYTES * 2}}})$")
_SEPARATORS = re.compile(r"[,\s]+")


class BatchIds:
    def __init__(self, secrets_store: Secrets) -> None:
        self._secrets = secrets_store
        self._keys: list[bytes] | None = None
        self._lock = threading.Lock()

    def _signing_keys(self) -> list[bytes]:
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    raw = self._secrets.get(SECRET_NAME)
                    keys = [k.encode() for k in _SEPARATORS.split(raw) if k]
                    if not keys:
                        raise RuntimeError(f"the {SECRET_NAME!r} secret is empty")
                    self._keys = keys
        return self._keys

    def _tag(self, key: bytes, nonce: str) -> str:
        message = b"svmflow-batch-id\x00" + nonce.encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[: TAG_BYTES * 2]

    def _sign(self, nonce: str) -> str:
        return f"{nonce}-{self._tag(self._signing_keys()[0], nonce)}"

    def issue(self) -> str:
        return self._sign(secrets.token_hex(NONCE_BYTES))

    def for_idempotency_key(self, identity: str, idempotency_key: str, content_digest: bytes) -> str:
        """The same caller, key and content always give the same id; different callers never collide.

        The content is part of it so that a key reused for another batch names another batch: with no
        state to remember the first body, the alternative would be two batches under one id, one of them
        silently lost."""
        message = (
            b"svmflow-idempotency\x00"
            + identity.encode()
            + b"\x00"
            + idempotency_key.encode()
            + b"\x00"
            + content_digest
        )
        nonce = hmac.new(self._signing_keys()[0], message, hashlib.sha256).hexdigest()[: NONCE_BYTES * 2]
        return self._sign(nonce)

    def seal(self, purpose: str, text: str) -> str:
        """``text`` with a tag that only this service can make, for tokens handed to clients (cursors)."""
        return f"{text}.{self._seal_tag(self._signing_keys()[0], purpose, text)}"

    def unseal(self, purpose: str, token: str) -> str | None:
        """The text of a token ``seal`` made, or None if it was altered, cut short or forged."""
        text, dot, tag = token.rpartition(".")
        if not dot or len(tag) != TAG_BYTES * 2:
            return None
        keys = self._signing_keys()
        if any(hmac.compare_digest(self._seal_tag(key, purpose, text), tag) for key in keys):
            return text
        return None

    def _seal_tag(self, key: bytes, purpose: str, text: str) -> str:
        message = b"svmflow-seal\x00" + purpose.encode() + b"\x00" + text.encode()
        return hmac.new(key, message, hashlib.sha256).hexdigest()[: TAG_BYTES * 2]

    def is_issued(self, batch_id: str) -> bool:
        match = _SHAPE.match(batch_id)
        if match is None:
            return False
        nonce, tag = match.group("nonce"), match.group("tag")
        return any(hmac.compare_digest(self._tag(key, nonce), tag) for key in self._signing_keys())
