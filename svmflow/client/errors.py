"""Typed errors: one class per kind of answer, each carrying the RFC 9457 problem the API sent."""

from __future__ import annotations

from typing import Any


class ClientError(Exception):
    """Base of every error the client raises."""


class ApiError(ClientError):
    """The API refused the request; the fields are those of its ``application/problem+json`` body."""

    def __init__(
        self,
        status: int,
        *,
        type: str = "about:blank",
        title: str = "",
        detail: str = "",
        field: str | None = None,
        headers: dict[str, str] | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.field = field
        self.headers = headers or {}
        self.method = method
        self.url = url
        where = f" (field {field})" if field else ""
        super().__init__(f"{method} {url} answered {status} {title}: {detail}{where}".strip())


class BadRequestError(ApiError):
    """400: not JSON, a malformed header or query parameter."""


class UnauthorizedError(ApiError):
    """401: no API key, or a wrong one."""


class NotFoundError(ApiError):
    """404: an id never issued, no model yet, a bulk file that is not in the bucket."""


class ConflictError(ApiError):
    """409: e.g. rating a batch whose results are not in yet."""


class PayloadTooLargeError(ApiError):
    """413: a body over the API's limit (the client splits batches so this should not happen)."""


class UnsupportedMediaTypeError(ApiError):
    """415: a body that is not JSON, or an unsupported encoding."""


class InvalidInputError(ApiError):
    """422: valid JSON that is not a valid request; ``field`` names the value at fault."""


class RateLimitedError(ApiError):
    """429 after every retry."""


class UnavailableError(ApiError):
    """503 after every retry: Pub/Sub or Redis unavailable, or no model in production yet."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: InvalidInputError,
    429: RateLimitedError,
    503: UnavailableError,
}


class ServiceUnreachableError(ClientError, ConnectionError):
    """No answer at all (connection refused, reset, timed out) after every retry."""


class WaitTimeoutError(ClientError, TimeoutError):
    """A batch or bulk job was not finished within the time given to ``wait``."""


class UnexpectedResponseError(ClientError):
    """An answer this client does not understand (a proxy's HTML page, say)."""


def error_from_response(status: int, body: Any, headers: dict[str, str], method: str, url: str) -> ApiError:
    cls = _BY_STATUS.get(status, ApiError)
    problem = body if isinstance(body, dict) else {}
    detail = problem.get("detail")
    if detail is None:
        detail = body if isinstance(body, str) else ""
    return cls(
        status,
        type=str(problem.get("type", "about:blank")),
        title=str(problem.get("title", "")),
        detail=str(detail)[:2000],
        field=problem.get("field"),
        headers=headers,
        method=method,
        url=url,
    )
