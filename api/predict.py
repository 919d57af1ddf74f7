"""The predict API: batch results, listing, feedback, models and jobs. It reads Redis and publishes
feedback to Pub/Sub; it writes nothing itself."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.batch_problems import ratings_problem
from api.body import decode_json, read_body
from api.errors import BadRequestError, ConflictError, NotFoundError, UnprocessableError
from api.models import (
    BatchListItem,
    BatchPage,
    BatchPending,
    ExplainedBatch,
    ExplainedResult,
    FeedbackAccepted,
    FeedbackSubmission,
    TrainingLabels,
)
from api.publishing import publish_or_unavailable
from api.service import Service
from svmflow import topology
from svmflow.contracts import Feedback, Rating
from svmflow.domain.batch_rules import first_breach
from svmflow.domain.drift_windows import empty_view
from svmflow.domain.explanations import Explainer, explanation_key, per_record
from svmflow.domain.performance import version_performance
from svmflow.views import BatchDeliveries, BatchView, ExplanationInputs

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# A feedback body is a list of subjects and ratings: at most 10,000 of each.
MAX_FEEDBACK_BYTES = 2 * 1024 * 1024

_feedback_decoder = msgspec.json.Decoder(FeedbackSubmission)
_encoder = msgspec.json.Encoder()


def json_response(body: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(body), status_code, headers, media_type="application/json")


def _service(request: Request) -> Service:
    service: Service = request.app.state.service  # Starlette's state is untyped; the app set it
    return service


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


def _explain_requested(request: Request) -> bool:
    raw = request.query_params.get("explain")
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise BadRequestError("explain must be true or false", field="explain")


def explained(body: bytes, inputs: ExplanationInputs) -> ExplainedBatch:
    """Each record's exact contributions, from the features and weights stored beside the results."""
    view = msgspec.json.decode(body, type=BatchView)
    explainer = msgspec.json.decode(inputs.explainer, type=Explainer)
    features = np.asarray(msgspec.json.decode(inputs.features), dtype=np.float64)
    values = per_record(explainer, features)
    return ExplainedBatch(
        batch_id=view.batch_id,
        status=view.status,
        model_version=view.model_version,
        record_count=view.record_count,
        submitted_at=view.submitted_at,
        predicted_at=view.predicted_at,
        explanation=explanation_key(explainer),
        results=[
            ExplainedResult(
                subject=r.subject,
                label=r.label,
                class_name=r.class_name,
                score=r.score,
                contributions=c,
                features=f,
            )
            for r, c, f in zip(view.results, values, features.tolist(), strict=True)
        ],
    )


async def get_batch(request: Request) -> Response:
    batch_id = _issued_batch_id(request)
    read_model = _service(request).read_model
    if _explain_requested(request):
        return await _get_explained_batch(request, batch_id)
    body = await run_in_threadpool(read_model.get_batch_json, batch_id)
    if body is None:
        return json_response(
            BatchPending(batch_id=batch_id, status="pending"), 202, headers={"Retry-After": "1"}
        )
    return Response(body, media_type="application/json")


async def _get_explained_batch(request: Request, batch_id: str) -> Response:
    body, inputs = await run_in_threadpool(_service(request).read_model.get_batch_for_explanation, batch_id)
    if body is None:
        return json_response(
            BatchPending(batch_id=batch_id, status="pending"), 202, headers={"Retry-After": "1"}
        )
    if inputs is None:
        raise ConflictError(
            "this batch's results were stored without the inputs an explanation needs "
            "(restored from the database when its model's artifact was unavailable); "
            "poll it without explain=true",
            field="explain",
        )
    return json_response(await run_in_threadpool(explained, body, inputs))


async def batch_deliveries(request: Request) -> Response:
    """The batch's completion webhooks and every attempt, as the delivery functions last recorded
    them; none until a webhook is recorded (the batch is pending, or named no callback URL)."""
    batch_id = _issued_batch_id(request)
    body = await run_in_threadpool(_service(request).read_model.deliveries_json, batch_id)
    if body is None:
        return json_response(BatchDeliveries(batch_id=batch_id, deliveries=[]))
    return Response(body, media_type="application/json")


def encode_cursor(service: Service, submitted_at: float, batch_id: str) -> str:
    """The position after a page, sealed so that a cursor cut short or edited is refused, not read as
    another position (which would answer a wrong page)."""
    text = base64.urlsafe_b64encode(f"{submitted_at!r}|{batch_id}".encode()).decode().rstrip("=")
    return service.batch_ids.seal("cursor", text)


def decode_cursor(service: Service, cursor: str) -> tuple[float, str]:
    refused = BadRequestError(
        "cursor is not one this API returned (pass next_cursor exactly as it came)", field="cursor"
    )
    text = service.batch_ids.unseal("cursor", cursor) if cursor.isascii() else None
    if text is None:
        raise refused
    try:
        plain = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        score, batch_id = plain.split("|", 1)
        value = float(score)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise refused from exc
    if not batch_id or value != value or value in (float("inf"), float("-inf")):
        raise refused
    return value, batch_id


async def list_batches(request: Request) -> Response:
    service = _service(request)
    limit = _limit(request)
    raw_cursor = request.query_params.get("cursor")
    after = decode_cursor(service, raw_cursor) if raw_cursor is not None else None
    # One more than asked tells whether there is a next page.
    rows = await run_in_threadpool(service.read_model.page_batches, limit + 1, after)
    page, more = rows[:limit], len(rows) > limit
    statuses = await run_in_threadpool(service.read_model.batch_statuses, [row.batch_id for row in page])
    items = [
        BatchListItem(
            batch_id=row.batch_id,
            submitted_at=datetime.fromtimestamp(row.submitted_at, UTC),
            href=service.batch_url(row.batch_id),
            status=status,
        )
        for row, status in zip(page, statuses, strict=True)
    ]
    next_cursor = encode_cursor(service, page[-1].submitted_at, page[-1].batch_id) if more else None
    return json_response(BatchPage(items=items, next_cursor=next_cursor))


async def rate_batch(request: Request) -> Response:
    service = _service(request)
    batch_id = _issued_batch_id(request)
    body = await read_body(request, MAX_FEEDBACK_BYTES)
    feedback = decode_json(body, _feedback_decoder)
    if feedback.ratings is None and feedback.labels is None:
        # Neither field is missing alone, so neither is named.
        raise UnprocessableError(
            "send ratings (1 right, 0 wrong), labels (the right class of each subject), or both"
        )
    columns = (("ratings", feedback.ratings), ("labels", feedback.labels))
    given = {name: column for name, column in columns if column is not None}
    if (breach := first_breach(feedback.subjects, given)) is not None:
        raise ratings_problem(breach)
    classes = service.dataset.spec.class_names
    labels = None if feedback.labels is None else _class_indices(feedback.labels, classes)
    view = await run_in_threadpool(service.read_model.get_batch, batch_id)
    if view is None and await run_in_threadpool(service.read_model.get_failure, batch_id) is not None:
        raise ConflictError(
            "the batch failed (its prediction request was dead-lettered) and has no results to rate",
            field="batch_id",
        )
    if view is None:
        raise ConflictError(
            "the batch has no results yet; rate it once GET /v1/batches/{id} answers 200",
            field="batch_id",
            headers={"Retry-After": "1"},
        )
    predicted = {r.subject: r.label for r in view.results}
    known = predicted.keys()
    unknown = [(i, s) for i, s in enumerate(feedback.subjects) if s not in known]
    if unknown:
        index, _ = unknown[0]
        names = ", ".join(repr(s) for _, s in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise UnprocessableError(
            f"{len(unknown)} subject(s) are not in batch {batch_id}: {names}", field=f"subjects[{index}]"
        )
    ratings, true_labels = _verdicts(feedback.subjects, feedback.ratings, labels, predicted, classes)
    kind = feedback.kind
    if kind == "auto":
        # A batch rated in full is an unbiased sample of the model's answers; a part of it may have
        # been picked because it was wrong, so it only counts as corrections unless the client says so.
        kind = "sample" if len(feedback.subjects) == len(known) else "corrections"
    message = Feedback(
        batch_id=batch_id,
        subjects=feedback.subjects,
        ratings=ratings,
        rated_at=datetime.now(UTC),
        kind=kind,
        labels=true_labels,
        labelled_by=f"key:{request.state.identity[:16]}" if hasattr(request.state, "identity") else None,
    )
    await publish_or_unavailable(
        service,
        topology.FEEDBACK,
        message,
        unavailable="the ratings could not be handed to Pub/Sub; nothing was accepted, retry the request",
        batch_id=batch_id,
    )
    accepted = FeedbackAccepted(
        batch_id=batch_id,
        accepted=len(feedback.subjects),
        status="accepted",
        kind=kind,
        rated_at=message.rated_at,
    )
    return json_response(accepted, 202)


def _class_indices(names: list[str], classes: list[str]) -> list[int]:
    index_of = {name: i for i, name in enumerate(classes)}
    for position, name in enumerate(names):
        if name not in index_of:
            raise UnprocessableError(
                f"{name!r} is not a class of this model; the classes are {', '.join(classes)}",
                field=f"labels[{position}]",
            )
    return [index_of[name] for name in names]


def _verdicts(
    subjects: list[str],
    ratings: list[Rating] | None,
    labels: list[int] | None,
    predicted: dict[str, int],
    classes: list[str],
) -> tuple[list[Rating], list[int | None] | None]:
    """The ratings and the right classes the feedback message carries.

    Labels give the ratings (right when the label is the predicted class); ratings and labels given
    together must agree. A binary model's ratings alone need no labels (wrong is the other class); a
    multi-class model's carry the predicted class where right and no class where wrong."""
    if labels is not None:
        implied: list[Rating] = [
            1 if label == predicted[s] else 0 for s, label in zip(subjects, labels, strict=True)
        ]
        if ratings is not None:
            for index, (given, derived) in enumerate(zip(ratings, implied, strict=True)):
                if given != derived:
                    said = "right" if given == 1 else "wrong"
                    label, guess = classes[labels[index]], classes[predicted[subjects[index]]]
                    raise UnprocessableError(
                        f"subject {subjects[index]!r} is rated {said} but labelled {label!r} "
                        f"while {guess!r} was predicted",
                        field=f"ratings[{index}]",
                    )
        return implied, list(labels)
    assert ratings is not None
    if len(classes) <= 2:
        return ratings, None
    return ratings, [predicted[s] if r == 1 else None for s, r in zip(subjects, ratings, strict=True)]


async def batch_training_labels(request: Request) -> Response:
    """Which of a batch's rated records have their label in the training data, as feedback-to-training
    recorded it: the way to tell that a correction has reached the training data."""
    batch_id = _issued_batch_id(request)
    items = await run_in_threadpool(_service(request).read_model.training_labels, batch_id)
    return json_response(TrainingLabels(batch_id=batch_id, items=items))


# -- models and jobs -------------------------------------------------------------------------


# The current model, model versions and jobs are served as the projector stored them (their schemas
# are the views'), as batches are: no decode and re-encode per request, and an entry stored before a
# view gained a field is served as it was.


async def current_model(request: Request) -> Response:
    body = await run_in_threadpool(_service(request).read_model.current_model_json)
    if body is None:
        raise NotFoundError("no model is in production yet")
    return Response(body, media_type="application/json")


def _listing(bodies: list[bytes]) -> Response:
    """A ModelListing or JobListing of stored views."""
    return json_response({"items": [msgspec.Raw(body) for body in bodies]})


async def list_models(request: Request) -> Response:
    return _listing(
        await run_in_threadpool(_service(request).read_model.model_versions_json, _limit(request))
    )


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
    view = await run_in_threadpool(_service(request).read_model.training_rows)
    if view is None:
        raise NotFoundError("no training has run yet")
    rows = view.quarantined_rows
    if status == "active":
        rows = []  # active rows are counted, not listed: the table is the training data itself
    if source is not None:
        rows = [r for r in rows if r.source == source]
    if (batch := params.get("batch_id")) is not None:
        rows = [r for r in rows if r.batch_id == batch]
    return json_response(msgspec.structs.replace(view, quarantined_rows=rows))


async def list_jobs(request: Request) -> Response:
    read_model = _service(request).read_model
    return _listing(await run_in_threadpool(read_model.jobs_json, _limit(request)))


async def model_performance(request: Request) -> Response:
    """Live performance of one model version, as feedback-to-performance last projected it."""
    read_model = _service(request).read_model
    # A known version none of whose predictions was rated yet: no figures, zero labels behind them.
    return await _model_view(request, read_model.performance_json, lambda v: version_performance(v, 0, []))


async def model_drift(request: Request) -> Response:
    """Input drift of one model version, as the drift monitor last projected it."""
    service = _service(request)
    # A known version none of whose records was counted yet: no window has closed.
    return await _model_view(
        request, service.read_model.drift_json, lambda v: empty_view(v, service.settings.drift_window)
    )


async def _model_view(
    request: Request, projected: Callable[[str], bytes | None], not_projected_yet: Callable[[str], Any]
) -> Response:
    """A model version's projected view; a known version not projected yet gets ``not_projected_yet``'s."""
    version: str = request.path_params["version"]
    body = await run_in_threadpool(projected, version)
    if body is not None:
        return Response(body, media_type="application/json")
    known = await run_in_threadpool(_service(request).read_model.model_version, version)
    if known is None:
        raise NotFoundError(f"no model version {version!r}", field="version")
    return json_response(not_projected_yet(version))
