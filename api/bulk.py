"""Bulk files: ``POST /v1/jobs/bulk`` (ingest) and ``GET /v1/jobs/bulk/{job_id}`` (predict).

The one place an API reads the bucket. A missing, unreadable or wrong-format file must be refused at
submit time (a 4xx the caller sees), and only the bucket knows: so the ingest API reads the object's
size and its first 64 KiB, read-only, for that check. It writes nothing anywhere but Pub/Sub, as
everywhere else; the file itself is read by the bulk-split function.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.body import decode_json, read_body
from api.errors import NotFoundError, UnavailableError, UnprocessableError
from api.ingest import idempotency_key_of
from api.models import BulkAccepted, BulkPending, BulkSubmission
from api.publishing import incoming_traceparent, publish_or_unavailable
from api.service import Service
from svmflow import topology
from svmflow.bulk.files import BulkFileError, Location, check_head, locate, output_prefix
from svmflow.contracts import BulkRequest

HEAD_BYTES = 64 * 1024
MAX_BULK_BODY_BYTES = 8 * 1024

_decoder = msgspec.json.Decoder(BulkSubmission)
_encoder = msgspec.json.Encoder()


def _json(body: object, status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(_encoder.encode(body), status, headers, media_type="application/json")


def check_file(service: Service, uri: str, n_features: int) -> Location:
    """Where the file is and its format, once its head reads as such a file; a 4xx naming ``uri``
    otherwise. Runs in a worker thread (it reads the bucket)."""
    settings = service.settings
    bucket_dir = (
        settings.bucket_dir if settings.mode == "embedded" and not settings.storage_endpoint else None
    )
    try:
        location = locate(uri, settings.model_bucket, bucket_dir)
    except BulkFileError as exc:
        raise UnprocessableError(str(exc), field="uri") from exc
    bucket = service.bucket
    try:
        stream = bucket.open(location.path)
    except PermissionError as exc:
        raise UnprocessableError(f"{uri} cannot be read: {exc}", field="uri") from exc
    if stream is None:
        raise NotFoundError(f"{uri} is not in the bucket", field="uri")
    with stream:
        head = stream.read(HEAD_BYTES + 1)
    try:
        check_head(head[:HEAD_BYTES], location.format, n_features, complete=len(head) <= HEAD_BYTES)
    except BulkFileError as exc:
        raise UnprocessableError(f"{uri}: {exc}", field="uri") from exc
    return location


async def submit_bulk(request: Request) -> Response:
    service: Service = request.app.state.service
    idempotency_key = idempotency_key_of(request)
    body = await read_body(request, MAX_BULK_BODY_BYTES)
    submission = decode_json(body, _decoder)
    current = await run_in_threadpool(service.read_model.current_model)
    if current is None or current.n_features is None:
        raise UnavailableError(
            "no model is in production yet; try again shortly", headers={"Retry-After": "5"}
        )
    location = await run_in_threadpool(check_file, service, submission.uri, current.n_features)

    if idempotency_key is None:
        job_id = service.batch_ids.issue()
    else:
        digest = hashlib.sha256(b"bulk\x00" + location.path.encode()).digest()
        job_id = service.batch_ids.for_idempotency_key(request.state.identity, idempotency_key, digest)
    submitted_at = datetime.now(UTC)
    message = BulkRequest(
        job_id=job_id,
        uri=submission.uri,
        path=location.path,
        format=location.format,
        output=output_prefix(location.path, job_id),
        submitted_at=submitted_at,
    )
    await publish_or_unavailable(
        service,
        topology.BULK_REQUESTS,
        message,
        unavailable="the job could not be handed to Pub/Sub; nothing was accepted, retry the request",
        batch_id=job_id,
        traceparent=incoming_traceparent(request),
    )
    location_url = f"{service.predict_url}/v1/jobs/bulk/{job_id}"
    accepted = BulkAccepted(
        job_id=job_id, uri=submission.uri, status="queued", submitted_at=submitted_at, location=location_url
    )
    return _json(accepted, 202, {"Location": location_url})


async def bulk_progress(request: Request) -> Response:
    service: Service = request.app.state.service
    job_id: str = request.path_params["job_id"]
    if not service.batch_ids.is_issued(job_id):
        raise NotFoundError(f"no bulk job {job_id!r} was ever issued", field="job_id")
    view = await run_in_threadpool(service.progress.view, job_id)
    if view is None:
        return _json(BulkPending(job_id=job_id, status="queued"), 202, {"Retry-After": "1"})
    return _json(view, 200)
