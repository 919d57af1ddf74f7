"""rollback: serve an earlier model version again, for an operator, and tell the read models."""

from __future__ import annotations

from datetime import UTC, datetime

from svmflow import contracts
from svmflow.contracts import ModelEvent, RollbackRequest
from svmflow.errors import ArtifactIntegrityError, ModelNotFoundError, PreconditionFailedError, TransientError
from svmflow.messaging import EventContext
from svmflow.model_registry import ModelRegistry, ModelServer, SpecBinding
from svmflow.ports import Publisher
from svmflow.training import outcomes


def handle(
    request: RollbackRequest,
    context: EventContext,
    *,
    registry: ModelRegistry,
    publisher: Publisher,
    models: ModelServer | None = None,
) -> ModelEvent:
    """Keyed by request id, like a training job: the outcome is recorded in the bucket and a redelivery
    republishes it. A rollback that cannot happen (no such version, already serving, an altered
    artifact) is recorded as failed with the reason, so the operator sees why in the job list."""
    job_id = f"rollback-{request.request_id}"
    binding = None if models is None else models.binding
    return outcomes.record_once(
        job_id,
        lambda: _roll_back(job_id, request, registry, binding),
        registry=registry,
        publisher=publisher,
        context=context,
    )


def _roll_back(
    job_id: str, request: RollbackRequest, registry: ModelRegistry, binding: SpecBinding | None
) -> ModelEvent:
    current, _ = registry.pointer()
    if (
        current is not None
        and current.version == request.to_version
        and current.reason.endswith(f"({job_id})")
    ):
        # This request moved the pointer, then failed before recording its outcome.
        previous = current.history[-1] if current.history else None
        return _event(
            job_id,
            request,
            "rolled_back",
            _reason(request, previous, current.version),
            current.version,
            previous,
        )
    if request.from_version is not None and (current is None or current.version != request.from_version):
        serving = current.version if current else None
        return _event(
            job_id,
            request,
            "failed",
            f"rollback refused: it was asked for {request.from_version}, but {serving} serves now",
            serving,
            serving,
        )
    try:
        if binding is not None:  # a version of another data set spec would never serve
            target = request.to_version
            binding.check(target, registry.metadata(target), registry.load(target))
        old, new = registry.rollback(request.to_version, note=job_id)
    except PreconditionFailedError as exc:
        raise TransientError("the production pointer changed meanwhile; retrying the rollback") from exc
    except (ModelNotFoundError, ArtifactIntegrityError, ValueError) as exc:
        serving = current.version if current else None
        return _event(job_id, request, "failed", f"rollback refused: {exc}", serving, serving)
    return _event(
        job_id, request, "rolled_back", _reason(request, old.version, new.version), new.version, old.version
    )


def _reason(request: RollbackRequest, old: str | None, new: str) -> str:
    if request.reason:
        return f"rolled back from {old} to {new}: {request.reason}"
    return f"operator rolled back from {old} to {new}"


def _event(
    job_id: str,
    request: RollbackRequest,
    decision: contracts.Decision,
    reason: str,
    current: str | None,
    previous: str | None,
) -> ModelEvent:
    return ModelEvent(
        job_id=job_id,
        request_id=request.request_id,
        decision=decision,
        reason=reason,
        candidate_version=request.to_version,
        current_version=current,
        previous_version=previous,
        finished_at=datetime.now(UTC),
    )
