"""One delivery attempt: check the URL again, connect to the address just checked, POST once.

No redirect is followed (a 3xx is a failed attempt: following it would let a receiver point the
request anywhere), only a 2xx counts as delivered, and a 410 Gone says the receiver wants no more.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Literal

from svmflow.webhooks.urls import (
    CheckedTarget,
    Resolver,
    UnsafeUrlError,
    UrlPolicy,
    check_url,
    system_resolver,
)

Outcome = Literal["delivered", "gone", "failed", "refused"]
MAX_RESPONSE_BYTES = 1024  # kept for the delivery record; a receiver's body is not ours to store


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    status: int | None
    error: str | None
    address: str | None
    elapsed_ms: float
    response_excerpt: str = ""


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to a given address while presenting (SNI) and verifying the certificate of the URL's
    host, so the address checked is the address used."""

    def __init__(self, host: str, port: int, address: str, context: ssl.SSLContext, timeout: float):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    policy: UrlPolicy,
    resolver: Resolver = system_resolver,
    context: ssl.SSLContext | None = None,
    timeout: float = 10.0,
) -> Attempt:
    started = time.perf_counter()

    def elapsed() -> float:
        return round((time.perf_counter() - started) * 1000, 2)

    try:
        target: CheckedTarget = check_url(url, policy, resolver)
    except UnsafeUrlError as exc:
        return Attempt("refused", None, str(exc), None, elapsed())
    tls = context or ssl.create_default_context()
    address = target.addresses[0]
    connection = _PinnedHTTPSConnection(target.host, target.port, address, tls, timeout)
    try:
        connection.request(
            "POST", target.path, body=body, headers={**headers, "user-agent": "svmflow-webhooks/1"}
        )
        response = connection.getresponse()
        excerpt = response.read(MAX_RESPONSE_BYTES).decode("utf-8", errors="replace")
        status = response.status
    except (OSError, http.client.HTTPException) as exc:
        return Attempt("failed", None, f"{type(exc).__name__}: {exc}", address, elapsed())
    finally:
        connection.close()
    if 200 <= status < 300:
        return Attempt("delivered", status, None, address, elapsed(), excerpt)
    if status == 410:
        return Attempt("gone", status, "the receiver answered 410 Gone", address, elapsed(), excerpt)
    error = f"redirect ({status}) not followed" if 300 <= status < 400 else f"HTTP {status}"
    return Attempt("failed", status, error, address, elapsed(), excerpt)
