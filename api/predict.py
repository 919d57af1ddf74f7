"""The predict API: batch results, listing, feedback, models and jobs. It reads Redis and publishes
feedback to Pub/Sub; it writes nothing itself."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.body import decode_json, read_body
from api.errors import BadRequestError, ConflictError, NotFoundError, UnavailableError, UnprocessableError
from api.models import (
    BatchListItem,
    BatchPage,
    BatchPending,
    FeedbackAccepted,
    FeedbackSubmission,
    Listing,
)
from api.service import Service
from svmflow import topology
from svmflow.contracts import Feedback
from svmflow.runtime.processor import publish

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# A feedback body is a list of subjects and ratings: at most 10,000 of each.
MAX_FEEDBACK_BYTES = 2 * 1024 * 1024

_feedback_decoder = msgspec.json.Decoder(FeedbackSubmission)
_encoder = msgspec.json.Encoder()


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(body), status_code, headers, media_type="application/json")


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


def _issued_batch_id(request: Request) -> str:
    batch_id: str = request.path_params["batch_id"]
    if not _service(request).batch_ids.is_issued(batch_id):
        raise NotFoundError(f"no batch {batch_id!r} was ever issued", field="batch_id")
    return batch_id


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


# -- batches ---------------------------------------------------------------------------------


async def get_batch(request: Request) -> Response:
    batch_id = _issued_batch_id(request)
    body = await run_in_threadpool(_service(request).read_model.get_batch_json, batch_id)
    if body is None:
        return json_response(
            BatchPending(batch_id=batch_id, status="pending"), 202, headers={"Retry-After": "1"}
        )
    return Response(body, media_type="application/json")


def encode_cursor(submitted_at: float, batch_id: str) -> str:
    return base64.urlsafe_b64encode(f"{submitted_at!r}|{batch_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        score, batch_id = text.split("|", 1)
        value = float(score)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise BadRequestError("cursor is not one this API returned", field="cursor") from exc
    if not batch_id or value != value or value in (float("inf"), float("-inf")):
        raise BadRequestError("cursor is not one this API returned", field="cursor")
    return value, batch_id


async def list_batches(request: Request) -> Response:
    service = _service(request)
    limit = _limit(request)
    raw_cursor = request.query_params.get("cursor")
    after = decode_cursor(raw_cursor) if raw_cursor else None
    # One more than asked tells whether there is a next page.
    rows = await run_in_threadpool(service.read_model.page_batches, limit + 1, after)
    page, more = rows[:limit], len(rows) > limit
    items = [
        BatchListItem(
            batch_id=row.batch_id,
            submitted_at=datetime.fromtimestamp(row.submitted_at, UTC),
            href=service.batch_url(row.batch_id),
        )
        for row in page
    ]
    next_cursor = encode_cursor(page[-1].submitted_at, page[-1].batch_id) if more else None
    return json_response(BatchPage(items=items, next_cursor=next_cursor))


async def rate_batch(request: Request) -> Response:
    service = _service(request)
    batch_id = _issued_batch_id(request)
    body = await read_body(request, MAX_FEEDBACK_BYTES)
    feedback = decode_json(body, _feedback_decoder)
    if len(feedback.ratings) != len(feedback.subjects):
        raise UnprocessableError(
            f"ratings has {len(feedback.ratings)} entries but subjects has {len(feedback.subjects)}",
            field="ratings",
        )
    seen: set[str] = set()
    for index, subject in enumerate(feedback.subjects):
        if subject in seen:
            raise UnprocessableError(f"subject {subject!r} is rated twice", field=f"subjects[{index}]")
        seen.add(subject)
    view = await run_in_threadpool(service.read_model.get_batch, batch_id)
    if view is None:
        raise ConflictError(
            "the batch has no results yet; rate it once GET /v1/batches/{id} answers 200",
            field="batch_id",
            headers={"Retry-After": "1"},
        )
    known = {r.subject for r in view.results}
    unknown = [(i, s) for i, s in enumerate(feedback.subjects) if s not in known]
    if unknown:
        index, _ = unknown[0]
        names = ", ".join(repr(s) for _, s in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise UnprocessableError(
            f"{len(unknown)} subject(s) are not in batch {batch_id}: {names}", field=f"subjects[{index}]"
        )
    kind = feedback.kind
    if kind == "auto":
        # A batch rated in full is an unbiased sample of the model's answers; a part of it may have
        # been picked because it was wrong, so it only counts as corrections unless the client says so.
        kind = "sample" if len(feedback.subjects) == len(known) else "corrections"
    message = Feedback(
        batch_id=batch_id,
        subjects=feedback.subjects,
        ratings=feedback.ratings,
        rated_at=datetime.now(UTC),
        kind=kind,
        labelled_by=f"key:{request.state.identity[:16]}" if hasattr(request.state, "identity") else None,
    )
    try:
        await run_in_threadpool(publish, service.publisher, topology.FEEDBACK, message, batch_id=batch_id)
    except Exception as exc:
        service.log.exception("publish failed", extra={"batch_id": batch_id})
        raise UnavailableError(
            "the ratings could not be handed to Pub/Sub; nothing was accepted, retry the request",
            headers={"Retry-After": "2"},
        ) from exc
    accepted = FeedbackAccepted(
        batch_id=batch_id, accepted=len(feedback.subjects), status="accepted", kind=kind
    )
    return json_response(accepted, 202)


# -- models and jobs -------------------------------------------------------------------------


async def current_model(request: Request) -> Response:
    model = await run_in_threadpool(_service(request).read_model.current_model)
    if model is None:
        raise NotFoundError("no model is in production yet")
    return json_response(model)


async def list_models(request: Request) -> Response:
    items = await run_in_threadpool(_service(request).read_model.model_versions, _limit(request))
    return json_response(Listing(items=items))


TRAINING_ROW_FILTERS = ("status", "source", "batch_id")


async def training_rows(request: Request) -> Response:
    """Counts of the training table and its quarantined rows, as of the newest training. Filters:
    ``status`` (only ``quarantined`` rows are listed), ``source`` and ``batch_id``."""
    params = request.query_params
    unknown = sorted(set(params) - set(TRAINING_ROW_FILTERS))
    if unknown:
        raise BadRequestError(
            f"unknown filter {unknown[0]!r}; use {', '.join(TRAINING_ROW_FILTERS)}", field=unknown[0]
        )
    status = params.get("status")
    if status not in (None, "quarantined", "active"):
        raise BadRequestError("status must be quarantined or active", field="status")
    source = params.get("source")
    if source not in (None, "seed", "feedback"):
        raise BadRequestError("source must be seed or feedback", field="source")
    body = await run_in_threadpool(_service(request).read_model.training_rows)
    if body is None:
        raise NotFoundError("no training has run yet")
    rows = body.get("quarantined_rows", [])
    if status == "active":
        rows = []  # active rows are counted, not listed: the table is the training data itself
    if source is not None:
        rows = [r for r in rows if r["source"] == source]
    if (batch := params.get("batch_id")) is not None:
        rows = [r for r in rows if r["batch_id"] == batch]
    return json_response({**body, "quarantined_rows": rows})


async def list_jobs(request: Request) -> Response:
    items = await run_in_threadpool(_service(request).read_model.jobs, _limit(request))
    return json_response(Listing(items=items))
