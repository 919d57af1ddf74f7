"""training: fit a challenger, evaluate it against the champion, store it, promote it or not."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec

from svmflow import contracts, topology
from svmflow.contracts import Evaluation, ModelEvent, TrainingRequest
from svmflow.db import leases
from svmflow.db.database import Database
from svmflow.db.queries import labelled_rows
from svmflow.domain.gate import GatePolicy, decide
from svmflow.domain.linear_model import LinearModel, sha256_hex
from svmflow.domain.training import (
    FEEDBACK,
    SEED,
    LabelledRow,
    TrainingDataError,
    accuracy,
    data_fingerprint,
    fit,
)
from svmflow.errors import ArtifactIntegrityError, PreconditionFailedError, TransientError
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, library_versions, new_version
from svmflow.ports import Publisher
from svmflow.runtime.processor import PUBLISH_TIMEOUT_SECONDS, EventContext, new_traceparent

log = logging.getLogger(__name__)

LEASE = "training"


@dataclass(frozen=True)
class TrainingOptions:
    policy: GatePolicy
    feedback_weight: float = 1.0
    lease_seconds: float = 540.0


def handle(
    request: TrainingRequest,
    context: EventContext,
    *,
    db: Database,
    registry: ModelRegistry,
    publisher: Publisher,
    options: TrainingOptions,
) -> ModelEvent:
    """Keyed by request id: the outcome is recorded in the bucket under ``jobs/<job_id>.json`` and a
    redelivery republishes it instead of training again. Single-flight: a lease in the database. A
    request that finds another training running is retried later (transient), so no request, and no
    label that asked for it, is dropped."""
    job_id = f"job-{request.request_id}"
    if (recorded := registry.job_outcome(job_id)) is not None:
        return _republish(publisher, recorded, context)
    holder = f"{job_id}:{secrets.token_hex(4)}"
    if not leases.acquire(db, LEASE, holder, options.lease_seconds):
        raise TransientError("another training is running; this request will be retried")
    try:
        # A duplicate may have finished while this delivery waited for the lease.
        if (recorded := registry.job_outcome(job_id)) is not None:
            return _republish(publisher, recorded, context)
        event = promoted_earlier(job_id, request, registry) or train_and_decide(
            job_id, request, db=db, registry=registry, options=options
        )
        outcome = registry.record_job_outcome(job_id, contracts.encode(event))
        return _republish(publisher, outcome, context)
    finally:
        leases.release(db, LEASE, holder)


def _republish(publisher: Publisher, outcome: bytes, context: EventContext) -> ModelEvent:
    _publish(publisher, outcome, context)
    return contracts.decode(outcome, ModelEvent)


def promoted_earlier(job_id: str, request: TrainingRequest, registry: ModelRegistry) -> ModelEvent | None:
    """The event of a promotion this job already made before it failed to record its outcome.

    Without this, the retry would train again, find its own model as the champion with no new labels,
    and report a rejection while its model serves."""
    pointer, _ = registry.pointer()
    if pointer is None:
        return None
    metadata = registry.metadata(pointer.version)
    if metadata.job_id != job_id:
        return None
    metrics = metadata.metrics
    return ModelEvent(
        job_id=job_id,
        request_id=request.request_id,
        decision="promoted",
        reason=pointer.reason,
        candidate_version=pointer.version,
        current_version=pointer.version,
        previous_version=metrics.get("champion_version"),
        challenger=msgspec.convert(metrics["challenger"], Evaluation),
        champion=msgspec.convert(metrics["champion"], Evaluation | None),
        train_size=metadata.train_size,
        new_labels=int(metrics.get("new_labels", 0)),
        data_fingerprint=metadata.data_fingerprint,
        artifact_uri=registry.uri(pointer.version),
        n_features=metrics.get("n_features"),
        feature_names=metrics.get("feature_names"),
        finished_at=pointer.promoted_at,
    )


def _publish(publisher: Publisher, data: bytes, context: EventContext) -> None:
    attributes = {
        "schema_version": str(contracts.SCHEMA_VERSION),
        "traceparent": new_traceparent(context.traceparent),
    }
    publisher.publish(topology.MODELS, data, attributes).result(timeout=PUBLISH_TIMEOUT_SECONDS)


def evaluate(
    model: LinearModel, seed_holdout: list[LabelledRow], feedback_holdout: list[LabelledRow]
) -> Evaluation:
    return Evaluation(
        seed_holdout_accuracy=accuracy(model, seed_holdout) or 0.0,
        seed_holdout_size=len(seed_holdout),
        feedback_holdout_accuracy=accuracy(model, feedback_holdout),
        feedback_holdout_size=len(feedback_holdout),
    )


def train_and_decide(
    job_id: str,
    request: TrainingRequest,
    *,
    db: Database,
    registry: ModelRegistry,
    options: TrainingOptions,
) -> ModelEvent:
    with db.transaction() as session:
        rows, holdout = labelled_rows(session)
    train = [r for r, h in zip(rows, holdout, strict=True) if not h]
    seed_holdout = [r for r, h in zip(rows, holdout, strict=True) if h and r.source == SEED]
    feedback_holdout = [r for r, h in zip(rows, holdout, strict=True) if h and r.source == FEEDBACK]
    feedback_rows = sum(1 for r in rows if r.source == FEEDBACK)
    pointer, generation = registry.pointer()
    current = pointer.version if pointer else None

    def outcome(decision: contracts.Decision, reason: str, **fields: object) -> ModelEvent:
        return ModelEvent(
            job_id=job_id,
            request_id=request.request_id,
            decision=decision,
            reason=reason,
            current_version=fields.pop("current_version", current),  # type: ignore[arg-type]
            previous_version=current,
            finished_at=datetime.now(UTC),
            train_size=len(train),
            **fields,  # type: ignore[arg-type]
        )

    try:
        challenger = fit(train, options.feedback_weight)
    except TrainingDataError as exc:
        return outcome("failed", f"cannot train: {exc}", candidate_version=None)

    champion_eval: Evaluation | None = None
    new_labels = feedback_rows
    if pointer is not None:
        try:
            champion = registry.load(pointer.version, expected_sha256=pointer.sha256)
            champion_eval = evaluate(champion, seed_holdout, feedback_holdout)
            new_labels = feedback_rows - registry.metadata(pointer.version).feedback_rows
        except ArtifactIntegrityError as exc:
            log.error("champion %s is unreadable (%s); judging the challenger alone", pointer.version, exc)
    challenger_eval = evaluate(challenger, seed_holdout, feedback_holdout)
    verdict = decide(challenger_eval, champion_eval, new_labels, options.policy)

    artifact = challenger.to_bytes()
    version = new_version(artifact, job_id)
    fingerprint = data_fingerprint(train)
    registry.save(
        challenger,
        ArtifactMetadata(
            version=version,
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            job_id=job_id,
            data_fingerprint=fingerprint,
            train_size=len(train),
            feedback_rows=feedback_rows,
            metrics={
                "challenger": msgspec.to_builtins(challenger_eval),
                "champion": msgspec.to_builtins(champion_eval),
                "champion_version": current,
                "new_labels": new_labels,
                "n_features": challenger.n_features,
                "feature_names": list(challenger.feature_names),
            },
            library_versions=library_versions(),
        ),
    )
    decision: contracts.Decision = "promoted" if verdict.promote else "rejected"
    reason, now_serving = verdict.reason, current
    if verdict.promote:
        try:
            registry.promote(version, generation, reason=verdict.reason)
            now_serving = version
        except PreconditionFailedError:
            latest, _ = registry.pointer()
            now_serving = latest.version if latest else None
            if now_serving != version:  # else our write landed and only its answer was lost
                decision = "rejected"
                reason = "another promotion moved the production pointer while this model trained"
    log.info(
        "training %s: %s",
        decision,
        reason,
        extra={
            "job_id": job_id,
            "candidate_version": version,
            "seed_holdout_accuracy": challenger_eval.seed_holdout_accuracy,
        },
    )
    return outcome(
        decision,
        reason,
        candidate_version=version,
        current_version=now_serving,
        challenger=challenger_eval,
        champion=champion_eval,
        new_labels=new_labels,
        data_fingerprint=fingerprint,
        artifact_uri=registry.uri(version),
        n_features=challenger.n_features,
        feature_names=list(challenger.feature_names),
    )
