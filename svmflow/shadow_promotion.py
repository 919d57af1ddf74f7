"""Promoting the model in shadow once it has scored enough live records, with what it would have
flipped in the promotion record. Run by the training function (which owns promotions) on a
``shadow`` training request from prediction-to-db."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import msgspec

from svmflow import contracts
from svmflow.contracts import ModelEvent, ShadowReport, TrainingRequest
from svmflow.db import shadow as shadow_scores
from svmflow.db.database import Database
from svmflow.errors import PreconditionFailedError, TransientError
from svmflow.messaging import EventContext
from svmflow.model_registry import ModelRegistry, ShadowPointer
from svmflow.ports import Publisher
from svmflow.training import outcomes
from svmflow.training.resume import promoted_earlier

log = logging.getLogger(__name__)

REQUEST_PREFIX = "shadow-"


def store(
    registry: ModelRegistry, version: str, champion: str, job_id: str, sentence: str, promote_after: int
) -> str:
    """Put a challenger that passed the gate in shadow instead of production; returns the job's reason."""
    metadata = registry.metadata(version)
    registry.set_shadow(
        ShadowPointer(
            version=version,
            sha256=metadata.sha256,
            champion_version=champion,
            stored_at=datetime.now(UTC),
            job_id=job_id,
            reason=sentence,
            promote_after=promote_after,
        )
    )
    return f"In shadow beside {champion} for {promote_after} live records before its promotion. {sentence}"


def handle(
    request: TrainingRequest,
    context: EventContext,
    *,
    db: Database,
    registry: ModelRegistry,
    publisher: Publisher,
) -> ModelEvent:
    """Keyed by request id (one per shadow version): the outcome is recorded in the bucket and a
    redelivery, or the next batch's request, republishes it."""
    job_id = f"job-{request.request_id}"
    return outcomes.record_once(
        job_id,
        lambda: _promote(job_id, request, db, registry),
        registry=registry,
        publisher=publisher,
        context=context,
    )


def _promote(job_id: str, request: TrainingRequest, db: Database, registry: ModelRegistry) -> ModelEvent:
    version = request.request_id.removeprefix(REQUEST_PREFIX)
    shadow = registry.shadow()
    pointer, generation = registry.pointer()
    serving = pointer.version if pointer else None

    def refused(decision: contracts.Decision, reason: str) -> ModelEvent:
        return ModelEvent(
            job_id=job_id,
            request_id=request.request_id,
            decision=decision,
            reason=reason,
            candidate_version=version,
            current_version=serving,
            previous_version=serving,
            finished_at=datetime.now(UTC),
        )

    if shadow is None or shadow.version != version:
        return refused("rejected", f"{version} is no longer in shadow: a newer challenger replaced it")
    if serving != version:
        if serving != shadow.champion_version:
            return refused(
                "rejected",
                f"production moved from {shadow.champion_version} to {serving} while {version} was in shadow",
            )
        with db.transaction() as session:
            totals = shadow_scores.totals(session, version)
        reason = (
            f"Promoted after shadow scoring: it would have flipped {totals.flips} of {totals.records} live "
            f"predictions of {shadow.champion_version}. {shadow.reason}"
        )
        try:
            registry.promote(version, generation, reason=reason)
        except PreconditionFailedError as exc:
            raise TransientError("the production pointer changed meanwhile; retrying the promotion") from exc
    else:  # promoted by an earlier delivery that failed before recording its outcome
        with db.transaction() as session:
            totals = shadow_scores.totals(session, version)
    # The promotion record as the training job would have written it, with the shadow's flips.
    event = promoted_earlier(shadow.job_id, request, registry)
    assert event is not None
    report = ShadowReport(
        champion_version=shadow.champion_version,
        records=totals.records,
        flips=totals.flips,
        examples=totals.examples,
    )
    log.info("shadow %s promoted: %d flips in %d records", version, totals.flips, totals.records)
    return msgspec.structs.replace(
        event,
        job_id=job_id,
        request_id=request.request_id,
        previous_version=shadow.champion_version,
        shadow=report,
    )
