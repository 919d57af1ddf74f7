"""The ingest API: ``POST /v1/batches`` checks a batch, publishes it to ``prediction-requests`` and
answers 202 once Pub/Sub has accepted it. It reads Redis (the current model, idempotent retries) and
writes nothing.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.batch_problems import submission_problem
from api.body import decode_json, read_body
from api.errors import BadRequestError, UnavailableError, UnprocessableError
from api.models import BatchAccepted, BatchSubmission
from api.publishing import incoming_traceparent, publish_or_unavailable
from api.service import Service
from svmflow import topology
from svmflow.contracts import PredictionRequest
from svmflow.datasets.named_records import RecordError, check_bounds, rows_from_named
from svmflow.datasets.spec import DatasetSpec
from svmflow.domain.batch_rules import first_breach
from svmflow.webhooks.urls import UnsafeUrlError, check_url, policy_for

# Inflated body size. With at most 64 features per row and 10,000 rows, re-encoding can add at most
# two bytes per number ("1" becomes "1.0"), so the message stays under Pub/Sub's 10 MB limit.
MAX_BODY_BYTES = 5 * 1024 * 1024
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")

_decoder = msgspec.json.Decoder(BatchSubmission)


def rows_of(batch: BatchSubmission, spec: DatasetSpec) -> tuple[str, list[list[float]]]:
    """The batch's rows in the spec's feature order, and the field they came in (for error paths).

    Records keyed by name are turned into rows here; a missing, extra or misspelt name is a 400
    naming it (and, for a misspelling, the feature meant)."""
    if batch.features is not None and batch.records is not None:
        raise UnprocessableError("send features or records, not both", field="records")
    if batch.features is not None:
        return "features", batch.features
    if batch.records is None:
        raise UnprocessableError(
            "send the rows as features (arrays in the spec's feature order) or as records (arrays, "
            f"or objects keyed by feature name: {', '.join(spec.feature_names)})",
            field="features",
        )
    rows: list[list[float]] = []
    for index, record in enumerate(batch.records):
        if not isinstance(record, dict):
            rows.append(record)
            continue
        try:
            [row] = rows_from_named([record], spec)
        except RecordError as exc:
            problem = f"records[{index}]: {exc.problem}"
            field = f"records[{index}].{exc.field}" if exc.field else f"records[{index}]"
            if exc.misnamed:
                raise BadRequestError(problem, field=field) from None
            raise UnprocessableError(problem, field=field) from None
        rows.append(row)
    return "records", rows


def check_batch(
    subjects: list[str],
    features: list[list[float]],
    n_features: int | None,
    spec: DatasetSpec | None = None,
    name: str = "features",
) -> None:
    """What the types cannot say (``domain.batch_rules``): columns that line up, unique subjects, the
    model's width, finite numbers; then the data set spec's width and bounds. Raises
    ``UnprocessableError`` naming the first field at fault (``name``: the field the rows came in)."""
    breach = first_breach(subjects, {name: features}, features=features, width=n_features, check_numbers=True)
    if breach is not None:
        raise submission_problem(breach, n_features, name)
    if spec is None:
        return
    for index, row in enumerate(features):
        if len(row) != len(spec.features):
            raise UnprocessableError(
                f"row has {len(row)} features but the data set spec {spec.name!r} has "
                f"{len(spec.features)} ({', '.join(spec.feature_names)})",
                field=f"{name}[{index}]",
            )
    try:
        check_bounds(features, spec)
    except RecordError as exc:
        column = spec.feature_names.index(exc.field) if exc.field else 0
        raise UnprocessableError(
            f"{name}[{exc.index}]: {exc.problem}", field=f"{name}[{exc.index}][{column}]"
        ) from None


def idempotency_key_of(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.match(key):
        raise BadRequestError(
            "Idempotency-Key must be 1 to 255 visible ASCII characters", field="Idempotency-Key"
        )
    return key


def callback_url(service: Service, batch: BatchSubmission, identity: str) -> str | None:
    """The batch's own callback URL, checked against SSRF now (and again at each delivery), or the
    API key's default one. Raises ``BadRequestError`` naming what is wrong with the URL."""
    if batch.callback_url is None:
        return service.settings.webhook_urls_by_key.get(identity)
    try:
        check_url(batch.callback_url, policy_for(service.settings.webhook_allowances))
    except UnsafeUrlError as exc:
        raise BadRequestError(str(exc), field="callback_url") from exc
    return batch.callback_url


def _accepted(service: Service, batch_id: str, count: int, submitted_at: datetime) -> Response:
    location = service.batch_url(batch_id)
    body = BatchAccepted(
        batch_id=batch_id,
        record_count=count,
        status="pending",
        submitted_at=submitted_at,
        location=location,
    )
    return Response(
        msgspec.json.encode(body),
        status_code=202,
        media_type="application/json",
        headers={"Location": location},
    )


async def submit_batch(request: Request) -> Response:
    service: Service = request.app.state.service
    idempotency_key = idempotency_key_of(request)
    body = await read_body(request, service.max_body_bytes)
    batch = decode_json(body, _decoder)
    spec = service.dataset.spec
    name, features = rows_of(batch, spec)
    current = await run_in_threadpool(service.read_model.current_model)
    if current is None:
        raise UnavailableError(
            "no model is in production yet; try again shortly", headers={"Retry-After": "5"}
        )
    check_batch(batch.subjects, features, current.n_features, spec, name)
    callback = await run_in_threadpool(callback_url, service, batch, request.state.identity)

    if idempotency_key is None:
        batch_id = service.batch_ids.issue()
    else:
        digest = hashlib.sha256(msgspec.json.encode([batch.subjects, features])).digest()
        batch_id = service.batch_ids.for_idempotency_key(request.state.identity, idempotency_key, digest)
        done = await run_in_threadpool(service.read_model.get_batch, batch_id)
        if done is not None:
            return _accepted(service, batch_id, done.record_count, done.submitted_at)
        # Not predicted yet: publishing again is safe, every consumer keeps the first prediction.

    submitted_at = datetime.now(UTC)
    message = PredictionRequest(
        batch_id=batch_id,
        subjects=batch.subjects,
        features=features,
        submitted_at=submitted_at,
        callback_url=callback,
    )
    await publish_or_unavailable(
        service,
        topology.PREDICTION_REQUESTS,
        message,
        unavailable="the batch could not be handed to Pub/Sub; nothing was accepted, retry the request "
        "(with an Idempotency-Key, a retry cannot predict it twice)",
        batch_id=batch_id,
        traceparent=incoming_traceparent(request),
    )
    return _accepted(service, batch_id, len(batch.subjects), submitted_at)
