"""Who the caller is, and what only an operator may do."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.auth import Caller
from api.body import decode_json, read_body
from api.errors import ConflictError, NotFoundError
from api.models import Me, RollbackAccepted, RollbackSubmission
from api.predict import json_response
from api.publishing import publish_or_unavailable
from api.service import Service
from svmflow import topology
from svmflow.contracts import RollbackRequest
from svmflow.read_model import ReadModel

MAX_ROLLBACK_BYTES = 4096
# How far back the read model's history is searched for a version to roll back to.
MAX_VERSIONS = 200


def caller(request: Request) -> Caller:
    found: Caller = request.state.caller  # Starlette's state is untyped; the auth middleware set it
    return found


async def me(request: Request) -> Response:
    """The caller's role, so a client (the console) can tell a valid key and show what it may do."""
    who = caller(request)
    return json_response(Me(role=who.role, operator=who.role == "operator"))


_rollback_decoder = msgspec.json.Decoder(RollbackSubmission)


def _target(read_model: ReadModel, wanted: str | None) -> str:
    """The version to serve again: the one asked for, or the newest promoted one before the current."""
    current = read_model.current_model()
    if current is None:
        raise ConflictError(
            "no model is in production yet; there is nothing to roll back", field="to_version"
        )
    versions = read_model.model_versions(MAX_VERSIONS)
    if wanted is not None:
        if wanted == current.version:
            raise ConflictError(f"{wanted} is already in production", field="to_version")
        if not any(v.version == wanted for v in versions):
            raise NotFoundError(f"no model version {wanted!r} is known", field="to_version")
        return wanted
    names = [v.version for v in versions if v.decision == "promoted"]
    older = names[names.index(current.version) + 1 :] if current.version in names else names
    older = [name for name in older if name != current.version]
    if not older:
        raise ConflictError(f"{current.version} has no earlier promoted version to roll back to")
    return older[0]


async def rollback(request: Request) -> Response:
    """A command: published to ``rollback-requests``; the rollback function re-points production."""
    who = caller(request)
    who.require_operator("rolling back the model")
    service: Service = request.app.state.service
    body = await read_body(request, MAX_ROLLBACK_BYTES)
    submission = decode_json(body, _rollback_decoder)
    to_version = await run_in_threadpool(_target, service.read_model, submission.to_version)
    message = RollbackRequest(
        request_id=uuid.uuid4().hex,
        to_version=to_version,
        requested_by=who.identity,
        requested_at=datetime.now(UTC),
    )
    await publish_or_unavailable(
        service,
        topology.ROLLBACK_REQUESTS,
        message,
        unavailable="the rollback could not be handed to Pub/Sub; nothing was requested, retry",
    )
    accepted = RollbackAccepted(
        job_id=f"rollback-{message.request_id}", to_version=to_version, status="accepted"
    )
    return json_response(accepted, 202)
