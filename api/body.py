"""Request bodies: JSON only, identity or gzip, read in chunks and refused as soon as they pass the limit.

The limit applies to the inflated size, so a small gzip body that expands past it (a "zip bomb") is
stopped after at most ``limit + 1`` inflated bytes, never inflated whole.
"""

from __future__ import annotations

import json
import zlib
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request

from api.errors import BadRequestError, ContentTooLargeError, UnsupportedMediaTypeError, from_validation_error

T = TypeVar("T")

_GZIP_WINDOW = 16 + zlib.MAX_WBITS  # gzip header and trailer, not raw deflate or zlib
_GZIP_MAGIC = b"\x1f\x8b"


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


class _Inflater:
    """Inflates a gzip body of one or more members (RFC 1952 allows several, concatenated; ``gzip``
    and ``cat a.gz b.gz`` make them) and refuses anything after the last member."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._member = zlib.decompressobj(_GZIP_WINDOW)
        self._started = False  # a member has begun (so the body is not empty gzip)

    def feed(self, data: bytes, parts: list[bytes]) -> None:
        while data:
            if self._member.eof:
                if not data.startswith(_GZIP_MAGIC[: len(data)]):
                    raise BadRequestError(
                        "the body has data after the end of its gzip stream", field="Content-Encoding"
                    )
                self._member = zlib.decompressobj(_GZIP_WINDOW)
            self._started = True
            try:
                out = self._member.decompress(data, self.limit - self.size + 1)
            except zlib.error as exc:
                raise BadRequestError(f"the body is not valid gzip: {exc}", field="Content-Encoding") from exc
            parts.append(out)
            self.size += len(out)
            if self.size > self.limit:
                raise _too_large(self.limit)
            # What the member did not take: more output to come, or what follows the member.
            data = self._member.unconsumed_tail or self._member.unused_data

    def finish(self) -> None:
        if not self._started:
            return
        if not self._member.eof:
            raise BadRequestError("the gzip body is truncated", field="Content-Encoding")


async def read_body(request: Request, limit: int) -> bytes:
    _check_content_type(request)
    gzipped = _check_content_encoding(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    inflater = _Inflater(limit) if gzipped else None
    received = 0
    parts: list[bytes] = []
    async for chunk in request.stream():
        if not chunk:
            continue
        received += len(chunk)
        if received > limit:  # the compressed size bounds the work too
            raise _too_large(limit)
        if inflater is None:
            parts.append(chunk)
        else:
            inflater.feed(chunk, parts)
    if inflater is not None:
        inflater.finish()
    body = b"".join(parts)
    if not body.strip():
        raise BadRequestError("the body is empty; send a JSON document")
    return body


def decode_json(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode ``body`` into the decoder's type. Not UTF-8, not JSON, or an object with a key twice
    (which JSON parsers resolve differently, so the request is ambiguous) is a 400; valid JSON of the
    wrong shape is a 422 naming the field."""
    try:
        value = decoder.decode(body)
    except UnicodeDecodeError as exc:
        raise _not_utf8(body) from exc
    except msgspec.ValidationError as exc:
        _refuse_duplicate_keys(body, _field_names(decoder))
        raise from_validation_error(exc) from exc
    except msgspec.DecodeError as exc:
        _refuse_duplicate_keys(body, _field_names(decoder))
        raise BadRequestError(f"the body is not valid JSON: {exc}") from exc
    _refuse_duplicate_keys(body, _field_names(decoder))
    return value


def _not_utf8(body: bytes) -> BadRequestError:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return BadRequestError(
            f"the body is not valid UTF-8 (byte 0x{body[exc.start]:02x} at offset {exc.start}); "
            "send JSON encoded as UTF-8"
        )
    return BadRequestError("the body is not valid UTF-8; send JSON encoded as UTF-8")


def _field_names(decoder: msgspec.json.Decoder[Any]) -> tuple[str, ...]:
    return tuple(getattr(decoder.type, "__struct_fields__", ()))


def _may_repeat_a_key(body: bytes, names: tuple[str, ...]) -> bool:
    """A cheap look for what could be a repeated key, so a request without one (nearly all) is not
    parsed twice: request bodies hold one object whose keys are field names, written without escapes."""
    if body.count(b"{") > 1 or b"\\u" in body:
        return True
    return any(body.count(b'"' + name.encode() + b'"') > 1 for name in names)


def _refuse_duplicate_keys(body: bytes, names: tuple[str, ...]) -> None:
    if not _may_repeat_a_key(body, names):
        return

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen:
                raise _DuplicateKeyError(key)
            seen.add(key)
        return dict(items)

    try:
        # Only to find the repeated key; msgspec already decoded the body (or said why it cannot).
        json.loads(body, object_pairs_hook=pairs)
    except _DuplicateKeyError as exc:
        raise BadRequestError(
            f"the key {exc.key!r} appears twice in a JSON object; send each key once", field=exc.key
        ) from None
    except (ValueError, RecursionError):
        return  # not JSON: the decoder's own error says where


class _DuplicateKeyError(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key
