"""API keys: ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.

The accepted keys come from the ``api-keys`` secret (Secret Manager in production; locally
``SVMFLOW_SECRET_API_KEYS``, default ``dev-local-key``). It may hold several keys separated by commas or
newlines, so a key can be rotated without downtime: add the new one, move clients, remove the old one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading

from starlette.requests import Request

from api.errors import UnauthorizedError
from svmflow.ports import Secrets

SECRET_NAME = "api-keys"  # noqa: S105 (the name of a secret, not its value)
_SEPARATORS = re.compile(r"[,\s]+")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="svmflow", ApiKey header="X-API-Key"'}


class ApiKeys:
    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._keys: list[bytes] | None = None
        self._lock = threading.Lock()

    def _load(self) -> list[bytes]:
        # Read on first use, not when the app is built, so starting the process opens no connection.
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    raw = self._secrets.get(SECRET_NAME)
                    self._keys = [k.encode() for k in _SEPARATORS.split(raw) if k]
        return self._keys

    def authenticate(self, request: Request) -> str:
        """The caller's identity (a digest of the key, never the key); raises ``UnauthorizedError``."""
        presented = _presented_key(request)
        if presented is None:
            raise UnauthorizedError(
                "an API key is required: send `X-API-Key: KEY` or `Authorization: Bearer KEY`",
                field="X-API-Key",
                headers=_CHALLENGE,
            )
        candidate = presented.encode()
        # Compare against every key, without stopping early, so timing does not tell which one matched.
        matched = False
        for key in self._load():
            matched |= hmac.compare_digest(candidate, key)
        if not matched:
            raise UnauthorizedError("the API key is not valid", field="X-API-Key", headers=_CHALLENGE)
        return hashlib.sha256(candidate).hexdigest()[:32]


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
