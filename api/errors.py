"""One error hierarchy for both APIs, rendered as RFC 9457 ``application/problem+json`` in one place.

Handlers raise; nothing else in the API builds an error response. Every problem names the field at fault
(``field``: a JSON path such as ``features[0][1]``, or a header or query parameter name) when there is one.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import msgspec
import redis
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "urn:svmflow:problem:"


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


class ApiError(Exception):
    status = 500
    title = "Internal error"
    slug = "internal-error"

    def __init__(self, detail: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.headers = headers or {}

    def problem(self) -> Problem:
        return Problem(
            type=_TYPE_BASE + self.slug,
            title=self.title,
            status=self.status,
            detail=self.detail,
            field=self.field,
        )


class BadRequestError(ApiError):
    status, title, slug = 400, "Bad request", "bad-request"


class UnauthorizedError(ApiError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class NotFoundError(ApiError):
    status, title, slug = 404, "Not found", "not-found"


class MethodNotAllowedError(ApiError):
    status, title, slug = 405, "Method not allowed", "method-not-allowed"


class RequestTimeoutError(ApiError):
    status, title, slug = 408, "Request timeout", "request-timeout"


class ConflictError(ApiError):
    status, title, slug = 409, "Conflict", "conflict"


class ContentTooLargeError(ApiError):
    status, title, slug = 413, "Content too large", "content-too-large"


class UnsupportedMediaTypeError(ApiError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class UnprocessableError(ApiError):
    status, title, slug = 422, "Invalid input", "invalid-input"


class UnavailableError(ApiError):
    status, title, slug = 503, "Service unavailable", "unavailable"


_PATH = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")


_UNKNOWN = re.compile(r"unknown field `(?P<name>[^`]*)`")


def from_validation_error(error: msgspec.ValidationError) -> UnprocessableError:
    """msgspec says ``Expected `float`, got `bool` - at `$.features[0][1]```: keep the message, name the
    field (``features[0][1]``). An unknown field is named by the field itself."""
    message = str(error)
    match = _PATH.search(message)
    path = match.group("path") if match else ""
    detail = message[: match.start()] if match else message
    unknown = _UNKNOWN.search(detail)
    if unknown is not None:
        path = f"{path}.{unknown.group('name')}" if path else unknown.group("name")
    return UnprocessableError(detail, field=path or None)


def problem_response(error: ApiError) -> Response:
    body = msgspec.json.encode(error.problem())
    return Response(body, status_code=error.status, media_type=PROBLEM_JSON, headers=error.headers)


_BY_STATUS: dict[int, type[ApiError]] = {
    cls.status: cls
    for cls in (
        BadRequestError,
        UnauthorizedError,
        NotFoundError,
        MethodNotAllowedError,
        RequestTimeoutError,
        ConflictError,
        ContentTooLargeError,
        UnsupportedMediaTypeError,
        UnprocessableError,
        UnavailableError,
    )
}


async def on_api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem_response(exc)


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no such route, wrong method) get the same shape as ours."""
    assert isinstance(exc, HTTPException)
    cls = _BY_STATUS.get(exc.status_code, BadRequestError)
    detail = exc.detail
    if exc.status_code == 404:
        detail = f"no such resource: {request.url.path}"
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    error = cls(detail, headers=dict(exc.headers or {}))
    if error.status != exc.status_code:
        error.status, error.title = exc.status_code, status_phrase(exc.status_code)
    return problem_response(error)


def status_phrase(status: int) -> str:
    """``Request entity too large`` for 413: the standard reason phrase, as a title for people."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        return "Error"
    return phrase[0] + phrase[1:].lower()


async def on_redis_down(_: Request, exc: Exception) -> Response:
    """Redis unreachable is the client's cue to retry, not a server bug: 503 with Retry-After."""
    log.warning("Redis is unavailable: %s", exc)
    return problem_response(
        UnavailableError("the read model (Redis) is unavailable; retry shortly", headers={"Retry-After": "2"})
    )


async def on_client_gone(request: Request, _: Exception) -> Response:
    """The client closed the connection (or was cut off) before its request arrived: nobody is left to
    answer and nothing is wrong with the server, so one INFO line, no traceback."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.info(
        "%s went away before sending its whole request (%s %s)", client, request.method, request.url.path
    )
    return problem_response(BadRequestError("the request ended before its body was complete"))


async def on_unexpected(_: Request, exc: Exception) -> Response:
    log.exception("unexpected error while serving a request", exc_info=exc)
    return problem_response(ApiError("the server failed to process the request; it has been logged"))


EXCEPTION_HANDLERS: dict[Any, Any] = {
    ApiError: on_api_error,
    HTTPException: on_http_exception,
    redis.exceptions.ConnectionError: on_redis_down,
    redis.exceptions.TimeoutError: on_redis_down,
    ClientDisconnect: on_client_gone,
    Exception: on_unexpected,
}
