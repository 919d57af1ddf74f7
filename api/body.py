"""Request bodies: JSON only, identity or gzip, read in chunks and refused as soon as they pass the limit.

The limit applies to the inflated size, so a small gzip body that expands past it (a "zip bomb") is
stopped after at most ``limit + 1`` inflated bytes, never inflated whole.
"""

from __future__ import annotations

import zlib
from typing import TypeVar

import msgspec
from starlette.requests import Request

from api.errors import BadRequestError, ContentTooLargeError, UnsupportedMediaTypeError, from_validation_error

T = TypeVar("T")

_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate or zlib


def _check_content_type(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        shown = media_type or "none"
        raise UnsupportedMediaTypeError(
            f"send the body as application/json (got {shown})",
            field="Content-Type",
            headers={"Accept": "application/json"},
        )


def _check_content_encoding(request: Request) -> bool:
    """True when the body is gzip-compressed."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("", "identity"):
        return False
    if encoding in ("gzip", "x-gzip"):
        return True
    raise UnsupportedMediaTypeError(
        f"Content-Encoding {encoding!r} is not supported; use gzip or none",
        field="Content-Encoding",
        headers={"Accept-Encoding": "gzip"},
    )


def _too_large(limit: int) -> ContentTooLargeError:
    return ContentTooLargeError(f"the body is larger than the limit of {limit} bytes (after gzip inflation)")


async def read_body(request: Request, limit: int) -> bytes:
    _check_content_type(request)
    gzipped = _check_content_encoding(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    inflater = zlib.decompressobj(_GZIP_WINDOW) if gzipped else None
    received = 0
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        if not chunk:
            continue
        received += len(chunk)
        if received > limit:  # the compressed size bounds the work too
            raise _too_large(limit)
        if inflater is None:
            parts.append(chunk)
            size += len(chunk)
            continue
        pending = chunk
        while pending:
            try:
                out = inflater.decompress(pending, limit - size + 1)
            except zlib.error as exc:
                raise BadRequestError(f"the body is not valid gzip: {exc}", field="Content-Encoding") from exc
            parts.append(out)
            size += len(out)
            if size > limit:
                raise _too_large(limit)
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
    if inflater is not None and not inflater.eof:
        raise BadRequestError("the gzip body is truncated", field="Content-Encoding")
    body = b"".join(parts)
    if not body.strip():
        raise BadRequestError("the body is empty; send a JSON document")
    return body


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise from_validation_error(exc) from exc
    except msgspec.DecodeError as exc:
        raise BadRequestError(f"the body is not valid JSON: {exc}") from exc
