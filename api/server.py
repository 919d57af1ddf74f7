"""The HTTP server both APIs run in: uvicorn with an HTTP/1.1 protocol that keeps the API's promises
below the application, where the ASGI app cannot see the request.

* A request uvicorn cannot parse (a garbage request line, a negative or non-numeric Content-Length, a
  bad chunk size) is answered ``application/problem+json`` naming what is wrong, like every other error,
  instead of uvicorn's ``text/plain`` "Invalid HTTP request received.".
* A request must arrive whole (line, headers and body) within ``request_timeout`` seconds of its first
  byte (or of the connection opening): a client that trickles one byte a second gets 408 and the
  connection is closed, so it cannot hold a connection, a task and a buffer for ever.

Only uvicorn's pure-Python h11 protocol is extended (the project does not install httptools, so it is
the one uvicorn picks); its hooks are ``send_400_response`` and the connection callbacks.
"""

from __future__ import annotations

import asyncio
import logging
import re
from http import HTTPStatus
from typing import Any

import h11
import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.errors import PROBLEM_JSON, Problem, status_phrase

log = logging.getLogger(__name__)

# Long enough for a slow mobile link to send the largest body (5 MiB at ~200 KiB/s), short enough that
# a stalled or malicious client lets go of its connection soon.
REQUEST_TIMEOUT_SECONDS = 30.0
_TYPE_BASE = "urn:svmflow:problem:"
_MAX_DETAIL = 200
_BYTES_REPR = re.compile(r"bytearray\(b('.*')\)")


class EdgeProtocol(H11Protocol):
    """uvicorn's h11 protocol with problem+json framing errors and a whole-request deadline."""

    request_timeout: float = REQUEST_TIMEOUT_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._framing_error: h11.RemoteProtocolError | None = None
        # uvicorn swallows the parser's exception and keeps only a fixed message; keep the exception.
        next_event = self.conn.next_event

        def recording_next_event() -> Any:
            try:
                return next_event()
            except h11.RemoteProtocolError as exc:
                self._framing_error = exc
                raise

        # Wrapped in place: h11 keeps no hook for its framing errors.
        self.conn.next_event = recording_next_event  # type: ignore[method-assign]

    # -- the deadline ------------------------------------------------------------------------------

    # As uvicorn's own override: the loop hands a stream protocol an asyncio.Transport.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None:
            self._arm()  # the first byte of the next request on a kept-alive connection
        super().data_received(data)
        if self.conn.their_state is h11.DONE:
            self._disarm()  # the whole request is in; how long the answer takes is the app's business

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._on_deadline)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _on_deadline(self) -> None:
        self._deadline = None
        if self.transport.is_closing() or self.conn.their_state is h11.DONE:
            return
        if self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0] and self.cycle is None:
            # Opened and never used, or kept alive and idle: nothing to answer, just let go.
            self.transport.close()
            return
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("cut off %s: the request did not arrive within %g s", client, self.request_timeout)
        self._answer(
            408,
            "request-timeout",
            f"the request did not arrive whole within {self.request_timeout:g} seconds; "
            "send it at once, or retry",
        )

    # -- framing errors ----------------------------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        error = self._framing_error
        status = error.error_status_hint if error is not None else 400
        # Whatever h11 hints (501 for an unknown Transfer-Encoding), it is the request that is wrong.
        status = status if 400 <= status < 500 else 400
        # h11 quotes the offending bytes as ``bytearray(b'...')``; people read them better bare.
        reason = _BYTES_REPR.sub(r"\1", str(error)) if error is not None else msg
        detail = f"the request is not valid HTTP/1.1: {reason}"
        if len(detail) > _MAX_DETAIL:
            detail = detail[: _MAX_DETAIL - 3] + "..."
        self._answer(status, _slug(status), detail)

    def _answer(self, status: int, slug: str, detail: str) -> None:
        """Answer and close, bypassing h11's state machine, which cannot answer a request it has not
        parsed (and the connection is closed right after)."""
        if self.cycle is not None:
            # The app stops waiting for the rest of the body, and whatever it sends is dropped.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        if self.cycle is None or not self.cycle.response_started:
            problem = Problem(
                type=_TYPE_BASE + slug, title=status_phrase(status), status=status, detail=detail
            )
            body = msgspec.json.encode(problem)
            head = (
                f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
                f"content-type: {PROBLEM_JSON}\r\n"
                f"content-length: {len(body)}\r\n"
                "connection: close\r\n\r\n"
            )
            self.transport.write(head.encode("ascii") + body)
        self.transport.close()


def _slug(status: int) -> str:
    return status_phrase(status).lower().replace(" ", "-")


def protocol(request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> type[EdgeProtocol]:
    """The protocol class for uvicorn's ``http=`` option, with its own whole-request deadline."""
    return type("EdgeProtocol", (EdgeProtocol,), {"request_timeout": request_timeout})


def uvicorn_options(request_timeout: float = REQUEST_TIMEOUT_SECONDS) -> dict[str, Any]:
    """What ``uvicorn.Config`` / ``uvicorn.run`` need, besides the app, host and port, to serve an API."""
    return {"http": protocol(request_timeout)}
