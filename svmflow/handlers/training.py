"""training: fit a challenger, evaluate it against the champion, store it, promote it or not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import msgspec
from sqlalchemy.exc import OperationalError

from svmflow import contracts, topology
from svmflow.contracts import Evaluation, ModelEvent, TrainingRequest
from svmflow.db import job_queue
from svmflow.db.database import Database, as_utc
from svmflow.db.queries import labelled_rows
from svmflow.db.tables import TrainingRequestRecord
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
from svmflow.errors import ArtifactIntegrityError, BusyError, PreconditionFailedError
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, library_versions, new_version
from svmflow.ports import Publisher
from svmflow.runtime.processor import PUBLISH_TIMEOUT_SECONDS, EventContext, new_traceparent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingOptions:
    policy: GatePolicy
    feedback_weight: float = 1.0
    # Short, and renewed by a heartbeat while training runs: a crashed or frozen training frees its
    # claim within this time.
    lease_seconds: float = 30.0
    # How long a running job keeps retrying the database before giving its claim back (a restart).
    database_patience_seconds: float = 60.0


def handle(
    request: TrainingRequest,
    context: EventContext,
    *,
    db: Database,
    registry: ModelRegistry,
    publisher: Publisher,
    options: TrainingOptions,
) -> ModelEvent:
    """Keyed by request id. Every request is recorded as a job the moment it arrives (``job_queue``)
    and answered once: trained now, queued behind the running job (which picks it up when it ends),
    or covered by a job that trains on its labels. Only a training that fails for a transient reason
    raises, so the request is redelivered; a busy service is never an error."""
    job_id = job_queue.job_id_for(request.request_id)
    deps = {"db": db, "registry": registry, "publisher": publisher, "options": options}
    holder = job_queue.new_holder()
    if (recorded := registry.job_outcome(job_id)) is not None:
        event = _republish(publisher, recorded, context)
    else:
        try:
            admission = job_queue.admit(db, request, holder, options.lease_seconds)
        except OperationalError as exc:
            raise BusyError(
                f"the database cannot record training request {request.request_id} now: {exc}"
            ) from exc
        if admission.verdict == "in_progress":
            admission = _await_other_delivery(db, request, holder, options)
        if admission.verdict == "run":
            event = _run(job_id, request, holder, context, **deps)  # type: ignore[arg-type]
        else:
            event = status_event(admission.record, request)
            _publish(publisher, contracts.encode(event), context)
            log.info("training request %s: %s", request.request_id, event.reason, extra={"job_id": job_id})
    # Then every job queued meanwhile (or left by a training that died), one at a time: a queued job
    # never waits for a request that may not come.
    while (
        queued := _retrying(lambda: job_queue.claim_next(db, holder, options.lease_seconds), options)
    ) is not None:
        follow_up = TrainingRequest(
            request_id=queued.request_id,
            reason=queued.reason,  # type: ignore[arg-type]
            requested_at=as_utc(queued.received_at),
        )
        _run(queued.job_id, follow_up, holder, context, **deps)  # type: ignore[arg-type]
    return event


def _await_other_delivery(
    db: Database, request: TrainingRequest, holder: str, options: TrainingOptions
) -> job_queue.Admission:
    """Another delivery of this request is training it. Acknowledging now would leave nobody to retry
    if that delivery then fails, so wait until it ends, or until its claim runs out and this delivery
    takes the job over; past twice the lease, give up as busy (redelivered, no attempt used)."""
    deadline = time.monotonic() + 2 * options.lease_seconds + 5
    while time.monotonic() < deadline:
        time.sleep(min(1.0, options.lease_seconds / 4))
        admission = _retrying(lambda: job_queue.admit(db, request, holder, options.lease_seconds), options)
        if admission.verdict != "in_progress":
            return admission
    raise BusyError(f"training request {request.request_id} is still being trained by another delivery")


def status_event(record: TrainingRequestRecord, request: TrainingRequest) -> ModelEvent:
    """The read model's view of a job that has no training outcome of its own (queued, covered...)."""
    return ModelEvent(
        job_id=record.job_id,
        request_id=record.request_id,
        decision=record.status,  # type: ignore[arg-type]
        reason=record.detail,
        candidate_version=None,
        current_version=None,
        previous_version=None,
        new_labels=request.new_labels,
        finished_at=as_utc(record.updated_at),
    )


def _run(
    job_id: str,
    request: TrainingRequest,
    holder: str,
    context: EventContext,
    *,
    db: Database,
    registry: ModelRegistry,
    publisher: Publisher,
    options: TrainingOptions,
) -> ModelEvent:
    """Train one claimed job under a heartbeat and record its outcome; give the claim back on failure."""
    running = ModelEvent(
        job_id=job_id,
        request_id=request.request_id,
        decision="running",
        reason="training",
        candidate_version=None,
        current_version=None,
        previous_version=None,
        new_labels=request.new_labels,
        finished_at=datetime.now(UTC),
    )
    try:
        with job_queue.Heartbeat(db, job_id, holder, options.lease_seconds):
            _publish(publisher, contracts.encode(running), context)
            event = (
                _outcome_of(registry.job_outcome(job_id))
                or promoted_earlier(job_id, request, registry)
                or train_and_decide(job_id, request, db=db, registry=registry, options=options)
            )
            outcome = registry.record_job_outcome(job_id, contracts.encode(event))
            event = contracts.decode(outcome, ModelEvent)
            covered = _retrying(lambda: job_queue.finish(db, job_id, event.decision, event.reason), options)
    except Exception as exc:
        try:
            job_queue.requeue(db, job_id, holder, f"{type(exc).__name__}: {exc}")
        except Exception:  # the database is away too: the lease runs out and frees the claim
            log.warning("training job %s: could not give its claim back", job_id, exc_info=True)
        raise
    _publish(publisher, outcome, context)
    for other in covered:
        _publish(publisher, contracts.encode(status_event(other, request)), context)
    return event


def _outcome_of(recorded: bytes | None) -> ModelEvent | None:
    return None if recorded is None else contracts.decode(recorded, ModelEvent)


T = TypeVar("T")


def _retrying(step: Callable[[], T], options: TrainingOptions) -> T:
    """A running job's bookkeeping outlasts a database restart rather than losing a finished training."""
    deadline = time.monotonic() + options.database_patience_seconds
    delay = 0.5
    while True:
        try:
            return step()
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            log.warning("training: the database is unreachable; retrying in %.1f s", delay)
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


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
