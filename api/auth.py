"""API keys: ``X-API-Key: KEY`` or ``Authorization: Bearer KEY``.

The accepted keys come from the ``api-keys`` secret (Secret Manager in production; locally
``SVMFLOW_SECRET_API_KEYS``, default ``dev-local-key``). It may hold several keys separated by commas or
newlines, so a key can be rotated without downtime: add the new one, move clients, remove the old one.

An entry may carry a role as ``operator:KEY``, for the actions reserved to operators (a rollback). Any
other entry (``KEY``, or ``user:KEY``) is a plain key, so existing secrets keep working.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import threading
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from api.errors import ApiError, UnauthorizedError
from svmflow.ports import Secrets

SECRET_NAME = "api-keys"  # noqa: S105 (the name of a secret, not its value)
_SEPARATORS = re.compile(r"[,\s]+")
Role = Literal["user", "operator"]
ROLES: tuple[Role, ...] = ("user", "operator")


class ForbiddenError(ApiError):
    status, title, slug = 403, "Forbidden", "forbidden"


@dataclass(frozen=True)
class Caller:
    """Who is calling: a digest of the key (never the key) and the key's role."""

    identity: str
    role: Role

    def require_operator(self, action: str) -> None:
        if self.role != "operator":
            raise ForbiddenError(f"{action} needs an API key with the operator role", field="X-API-Key")


def parse_entry(entry: str) -> tuple[bytes, Role]:
    """``operator:KEY`` or ``user:KEY`` name a role; anything else is a plain key as written."""
    prefix, sep, rest = entry.partition(":")
    if sep and rest and prefix in ROLES:
        return rest.encode(), prefix
    return entry.encode(), "user"


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="svmflow", ApiKey header="X-API-Key"'}


class ApiKeys:
    def __init__(self, secrets: Secrets) -> None:
        self._secrets = secrets
        self._keys: list[tuple[bytes, Role]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> list[tuple[bytes, Role]]:
        # Read on first use, not when the app is built, so starting the process opens no connection.
        if self._keys is None:
            with self._lock:
                if self._keys is None:
                    raw = self._secrets.get(SECRET_NAME)
                    self._keys = [parse_entry(k) for k in _SEPARATORS.split(raw) if k]
        return self._keys

    def authenticate(self, request: Request) -> str:
        """The caller's identity (a digest of the key, never the key); raises ``UnauthorizedError``."""
        return self.caller(request).identity

    def caller(self, request: Request) -> Caller:
        """The caller's identity and role; raises ``UnauthorizedError``."""
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
        role: Role = "user"
        for key, key_role in self._load():
            equal = hmac.compare_digest(candidate, key)
            matched |= equal
            if equal and key_role == "operator":
                role = "operator"
        if not matched:
            raise UnauthorizedError("the API key is not valid", field="X-API-Key", headers=_CHALLENGE)
        return Caller(identity=hashlib.sha256(candidate).hexdigest()[:32], role=role)


def _presented_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None
