"""training: fit a challenger, evaluate it against the champion, store it, promote it or not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import TypedDict, TypeVar, Unpack

from sqlalchemy.exc import OperationalError

from svmflow import contracts, shadow_promotion
from svmflow.contracts import Evaluation, ModelEvent, TrainingRequest
from svmflow.db import job_queue
from svmflow.db.database import Database, as_utc
from svmflow.db.stores.training import TrainingStore
from svmflow.db.tables import TrainingRequestRecord
from svmflow.domain.fitting import TrainingDataError
from svmflow.domain.records import DecisionRecord, TrainingSummary
from svmflow.errors import BusyError
from svmflow.messaging import EventContext
from svmflow.model_registry import ModelRegistry
from svmflow.ports import Publisher
from svmflow.training import outcomes, steps
from svmflow.training.options import TrainingOptions
from svmflow.training.resume import promoted_earlier

__all__ = ["TrainingOptions", "handle", "promoted_earlier", "status_event", "train_and_decide"]

log = logging.getLogger(__name__)


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
    if request.reason == "shadow":  # no training: the model in shadow has scored enough to be promoted
        return shadow_promotion.handle(request, context, db=db, registry=registry, publisher=publisher)
    job_id = job_queue.job_id_for(request.request_id)
    run = partial(_run, db=db, registry=registry, publisher=publisher, options=options)
    holder = job_queue.new_holder()
    if (recorded := registry.job_outcome(job_id)) is not None:
        event = outcomes.republish(publisher, recorded, context)
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
            event = run(job_id, request, holder, context)
        else:
            event = status_event(admission.record, request)
            outcomes.publish(publisher, contracts.encode(event), context)
            log.info("training request %s: %s", request.request_id, event.reason, extra={"job_id": job_id})
    # Then every job queued meanwhile (or left by a training that died), one at a time: a queued job
    # never waits for a request that may not come.
    while (
        queued := _retrying(lambda: job_queue.claim_next(db, holder, options.lease_seconds), options)
    ) is not None:
        follow_up = TrainingRequest(
            request_id=queued.request_id,
            reason=queued.reason,
            requested_at=as_utc(queued.received_at),
        )
        run(queued.job_id, follow_up, holder, context)
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
        decision=record.status,
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
            outcomes.publish(publisher, contracts.encode(running), context)
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
    outcomes.publish(publisher, outcome, context)
    for other in covered:
        outcomes.publish(publisher, contracts.encode(status_event(other, request)), context)
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


def train_and_decide(
    job_id: str,
    request: TrainingRequest,
    *,
    db: Database,
    registry: ModelRegistry,
    options: TrainingOptions,
) -> ModelEvent:
    """One training, step by step (``svmflow.training.steps``): gather the rows, fit a challenger,
    evaluate it beside the champion, let the gate decide, store it, promote it or not."""
    rows = TrainingStore(db)
    data = steps.gather(rows, options)
    pointer, generation = registry.pointer()
    current = pointer.version if pointer else None
    try:
        fitted = steps.fit(data, options)
    except TrainingDataError as exc:
        return _training_event(job_id, request, data, current, current, "failed", f"cannot train: {exc}")
    champion = steps.load_champion(registry, pointer)
    look = 0  # this test's number against the champion; 0 when there is none to test
    if champion.model is not None and champion.version is not None:
        look = rows.tests_so_far(champion.version) + 1
    evidence = steps.evaluate(data, fitted, champion, look, options)
    judgement = steps.decide(data, fitted, evidence, champion, options)
    stored = steps.store(
        job_id, data, fitted, judgement, champion, rows=rows, registry=registry, options=options
    )
    if judgement.promote and options.shadow_records > 0 and current is not None:
        promotion = steps.Promotion(
            decision="shadow",
            reason=shadow_promotion.store(
                registry, stored.version, current, job_id, judgement.record.sentence, options.shadow_records
            ),
            now_serving=current,
        )
    else:
        promotion = steps.promote(registry, stored.version, generation, judgement, current)
    log.info(
        "training %s: %s",
        promotion.decision,
        promotion.reason,
        extra={"job_id": job_id, "candidate_version": stored.version, "p_value": judgement.record.p_value},
    )
    return _training_event(
        job_id,
        request,
        data,
        current,
        promotion.now_serving,
        promotion.decision,
        promotion.reason,
        candidate_version=stored.version,
        challenger=judgement.challenger,
        champion=judgement.champion,
        new_labels=judgement.new_labels,
        data_fingerprint=stored.data_fingerprint,
        artifact_uri=stored.artifact_uri,
        n_features=fitted.model.n_features,
        feature_names=list(fitted.model.feature_names),
        record=judgement.record,
        training=fitted.summary,
    )


class _Trained(TypedDict, total=False):
    """What an event tells of a candidate that was trained and judged."""

    challenger: Evaluation | None
    champion: Evaluation | None
    new_labels: int
    data_fingerprint: str | None
    artifact_uri: str | None
    n_features: int | None
    feature_names: list[str] | None
    record: DecisionRecord | None
    training: TrainingSummary | None


def _training_event(
    job_id: str,
    request: TrainingRequest,
    data: steps.TrainingData,
    previous: str | None,
    serving: str | None,
    decision: contracts.Decision,
    reason: str,
    *,
    candidate_version: str | None = None,
    **fields: Unpack[_Trained],
) -> ModelEvent:
    """A training's outcome: production was at ``previous`` when it began and is at ``serving`` now."""
    return ModelEvent(
        job_id=job_id,
        request_id=request.request_id,
        decision=decision,
        reason=reason,
        candidate_version=candidate_version,
        current_version=serving,
        previous_version=previous,
        finished_at=datetime.now(UTC),
        train_size=len(data.train),
        feedback_rows=data.feedback_rows,
        rows=data.counts,
        **fields,
    )
