"""Operator commands shared by the CLI and the embedded runtime: seed, train, rebuild the read model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import msgspec
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from svmflow import dead_letters, topology, webhook_deliveries
from svmflow.bootstrap import Container
from svmflow.contracts import ModelEvent, ModelMetrics, TrainingReason, TrainingRequest
from svmflow.db import drift, performance
from svmflow.db.database import as_utc
from svmflow.db.tables import (
    DeadLetterRecord,
    ModelVersion,
    Prediction,
    PredictionBatch,
    TrainingJob,
    TrainingRow,
)
from svmflow.domain.explanations import Explainer
from svmflow.domain.training import FEEDBACK, SEED, is_holdout, row_hash
from svmflow.errors import SvmflowError
from svmflow.messaging import EventContext, publish
from svmflow.read_model import ReadModel
from svmflow.views import BatchResult, BatchView, ExplanationInputs, TrainingLabel, class_name_of

log = logging.getLogger(__name__)


def seed(container: Container, path: Path | None = None) -> int:
    """Load the seed data set (the served spec's, or ``path`` with the same columns) into the training
    table; returns how many rows were new."""
    settings = container.settings
    if path is None and settings.is_set("data_path"):
        path = settings.data_path
    rows = container.dataset.seed_rows(path)
    holdout_percent = container.holdout_percent
    now = datetime.now(UTC)
    records = []
    for row in rows:
        digest = row_hash(row.features)
        records.append(
            {
                "source": SEED,
                "source_key": row.key,
                "features": list(row.features),
                "label": row.label,
                "row_hash": digest,
                "holdout": is_holdout(digest, holdout_percent),
                "labelled_at": now,
                "created_at": now,
            }
        )
    db = container.db
    with db.transaction() as session:
        # Seed rows are keyed by their line in the CSV: another data set's rows would be taken for
        # these, and their widths would break training. One state holds one data set.
        held = session.scalar(select(TrainingRow.features).where(TrainingRow.source == SEED).limit(1))
        width = len(container.dataset.feature_names)
        if held is not None and len(held) != width:
            raise SvmflowError(
                f"the training data in {settings.state_dir} has rows of {len(held)} features, not the "
                f"{width} of data set {container.dataset.name!r}; serve another data set from another "
                "state (SVMFLOW_STATE_DIR)"
            )
        count = select(func.count()).where(TrainingRow.source == SEED)
        before = session.scalar(count) or 0
        db.insert_ignore(session, TrainingRow, records)
        after = session.scalar(count) or 0
    return after - before


def train(container: Container, reason: TrainingReason = "manual") -> ModelEvent:
    """Run the training function in this process (a request id per call) and return its outcome, or
    ``queued`` when another training runs (that one picks this job up when it ends)."""
    now = datetime.now(UTC)
    request = TrainingRequest(request_id=f"{reason}-{now:%Y%m%dT%H%M%S%f}", reason=reason, requested_at=now)
    training = container.bind(topology.FUNCTIONS["training"])
    event: ModelEvent = training(request, EventContext(event_id=request.request_id, attributes={}))
    return event


def rollback(container: Container, to_version: str | None = None) -> ModelEvent:
    """Re-point production and tell the read models, as a training promotion would. A version trained
    for another data set spec than the served one is refused (``SpecMismatchError``)."""
    registry, binding = container.registry, container.models.binding
    target = to_version
    if target is None:
        current, _ = registry.pointer()
        target = current.history[-1] if current is not None and current.history else None
    if target is not None and binding is not None:
        binding.check(target, registry.metadata(target), registry.load(target))
    old, new = registry.rollback(to_version)
    now = datetime.now(UTC)
    event = ModelEvent(
        job_id=f"rollback-{now:%Y%m%dT%H%M%S%f}",
        request_id="rollback",
        decision="rolled_back",
        reason=f"operator rolled back from {old.version} to {new.version}",
        candidate_version=new.version,
        current_version=new.version,
        previous_version=old.version,
        finished_at=now,
    )
    publish(container.publisher, topology.MODELS, event)
    return event


def _explainers(container: Container) -> Callable[[str], Explainer | None]:
    """A model version's explainer from its artifact (loaded once per version; None if the artifact
    is gone or fails its digest check, and the batch is then restored without explanations)."""
    found: dict[str, Explainer | None] = {}

    def explainer(version: str) -> Explainer | None:
        if version not in found:
            try:
                found[version] = container.registry.load(version).explainer
            except SvmflowError as exc:
                log.warning("no explanations for model %s's batches: %s", version, exc)
                found[version] = None
        return found[version]

    return explainer


def rebuild_read_model(container: Container) -> dict[str, int]:
    """Refill Redis from Postgres: recent batches (with what explanations need, from the model
    artifacts), model history, jobs, the current model, live performance, input drift.

    An upsert, never a clear: every write is conditional (the earliest prediction of a batch, the
    highest-ranked state of a job, the newest production change, the highest performance revision), so
    an entry Redis already has, such as a batch done in Redis but not yet in Postgres, stays as it is,
    and the APIs keep answering."""
    read_model, db, settings = container.read_model, container.db, container.settings
    explainer_of = _explainers(container)
    classes = container.dataset.class_names
    counts = {"batches": 0, "models": 0, "jobs": 0, "performance": 0, "drift": 0}
    with db.transaction() as session:
        batches = session.scalars(
            select(PredictionBatch)
            .order_by(PredictionBatch.submitted_at.desc())
            .limit(settings.cache_index_size)
        ).all()
        for batch in batches:
            predictions = session.scalars(
                select(Prediction).where(Prediction.batch_id == batch.batch_id).order_by(Prediction.position)
            ).all()
            explainer = explainer_of(batch.model_version)
            inputs = (
                None
                if explainer is None
                else ExplanationInputs(
                    features=msgspec.json.encode([p.features for p in predictions]),
                    explainer=msgspec.json.encode(explainer),
                )
            )
            read_model.put_batch(
                BatchView(
                    batch_id=batch.batch_id,
                    status="done",
                    model_version=batch.model_version,
                    record_count=batch.record_count,
                    submitted_at=as_utc(batch.submitted_at),
                    predicted_at=as_utc(batch.predicted_at),
                    results=[
                        BatchResult(
                            subject=p.subject,
                            label=p.label,
                            class_name=class_name_of(p.label, classes),
                            score=p.score,
                        )
                        for p in predictions
                    ],
                ),
                inputs,
            )
            counts["batches"] += 1
        counts["training_labels"] = _restore_training_labels(
            session, read_model, [b.batch_id for b in batches]
        )
        versions = {v.version: v for v in session.scalars(select(ModelVersion)).all()}
        jobs = session.scalars(select(TrainingJob).order_by(TrainingJob.finished_at)).all()
        # The models and jobs are projected as the training_to_cache function projects them.
        project = container.bind(topology.FUNCTIONS["training_to_cache"])
        for job in jobs:
            event = _event_from_row(job, versions.get(job.candidate_version or ""))
            project(event, EventContext(job.job_id, {}))
            counts["jobs"] += 1
        counts["models"] = len(versions)
        for version in performance.rated_versions(session):
            figures = performance.load(session, version)
            if figures is not None:
                read_model.put_performance(figures)
                counts["performance"] += 1
        for version in drift.monitored_versions(session):
            view = drift.load(session, version)
            if view is not None:
                read_model.put_drift(view)
                counts["drift"] += 1
        counts["dead_letters"] = _restore_dead_letters(session, read_model)
    counts["webhooks"] = webhook_deliveries.restore(db, read_model, settings.cache_index_size)
    return counts


def _restore_training_labels(session: Session, read_model: ReadModel, batch_ids: list[str]) -> int:
    """Which rated records of these batches have their label in the training data. A feature vector
    rated in several batches holds one row, carrying the newest rating's batch and subject: that one
    is restored."""
    rows = session.execute(
        select(
            TrainingRow.batch_id,
            TrainingRow.subject,
            TrainingRow.label,
            TrainingRow.labelled_at,
            TrainingRow.created_at,
        ).where(TrainingRow.source == FEEDBACK, TrainingRow.batch_id.in_(batch_ids))
    ).all()
    by_batch: dict[str, list[TrainingLabel]] = {}
    for batch_id, subject, label, labelled_at, created_at in rows:
        if batch_id is None or subject is None:  # nullable for seed rows; a feedback row has both
            continue
        rated_at = as_utc(labelled_at)
        # A relabelled row keeps the time it was first written; its new label arrived after its rating.
        reached_at = max(as_utc(created_at), rated_at)
        by_batch.setdefault(batch_id, []).append(
            TrainingLabel(subject=subject, label=label, rated_at=rated_at, reached_at=reached_at)
        )
    for batch_id, labels in by_batch.items():
        read_model.put_training_labels(batch_id, labels)
    return len(rows)


def _restore_dead_letters(session: Session, read_model: ReadModel) -> int:
    """Dead letters not replayed yet, listed again; their batches failed unless predicted since."""
    rows = session.scalars(select(DeadLetterRecord).where(DeadLetterRecord.replayed_at.is_(None))).all()
    for row in rows:
        predicted = bool(row.batch_id) and session.get(PredictionBatch, row.batch_id) is not None
        dead_letters.show(row, read_model, predicted)
    return len(rows)


def _event_from_row(job: TrainingJob, version: ModelVersion | None) -> ModelEvent:
    metrics = msgspec.convert(job.metrics or {}, ModelMetrics)
    return ModelEvent(
        job_id=job.job_id,
        request_id=job.request_id,
        decision=job.decision,
        reason=job.reason,
        candidate_version=job.candidate_version,
        current_version=job.current_version,
        previous_version=job.previous_version,
        challenger=metrics.challenger,
        champion=metrics.champion,
        train_size=job.train_size,
        new_labels=job.new_labels,
        data_fingerprint=version.data_fingerprint if version else None,
        artifact_uri=version.artifact_uri if version else None,
        n_features=metrics.n_features,
        feature_names=metrics.feature_names,
        finished_at=as_utc(job.finished_at),
        feedback_rows=metrics.feedback_rows,
        record=metrics.record,
        training=metrics.training,
    )


def training_rows(
    container: Container,
    *,
    batch_id: str | None = None,
    source: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[dict[str, object]]:
    """Training rows, newest label first, filtered by batch, source and status."""
    query = select(TrainingRow).order_by(TrainingRow.labelled_at.desc(), TrainingRow.id.desc()).limit(limit)
    if batch_id is not None:
        query = query.where(TrainingRow.batch_id == batch_id)
    if source is not None:
        query = query.where(TrainingRow.source == source)
    if status is not None:
        query = query.where(TrainingRow.status == status)
    with container.db.transaction() as session:
        return [
            {
                "id": row.id,
                "source": row.source,
                "batch_id": row.batch_id,
                "subject": row.subject,
                "features": row.features,
                "label": row.label,
                "kind": row.kind,
                "labelled_by": row.labelled_by,
                "labelled_at": as_utc(row.labelled_at).isoformat(),
                "label_changes": row.label_changes,
                "status": row.status,
                "status_by": row.status_by,
                "status_reason": row.status_reason,
            }
            for row in session.scalars(query)
        ]


def set_row_status(
    container: Container,
    status: str,
    *,
    batch_id: str | None = None,
    source: str | None = None,
    row_ids: list[int] | None = None,
    reason: str | None = None,
) -> int:
    """An operator quarantines or restores rows, by batch, by source, or one by one; returns how many
    rows were selected. The rules never overturn an operator's word; the next training uses it."""
    if status not in ("active", "quarantined"):
        raise ValueError("status must be active or quarantined")
    if batch_id is None and source is None and not row_ids:
        raise ValueError("name the rows: a batch, a source, or row ids")
    statement = update(TrainingRow).values(
        status=status,
        status_by="operator",
        status_reason=(
            reason or f"{'quarantined' if status == 'quarantined' else 'restored'} by an operator"
        )[:500],
    )
    if batch_id is not None:
        statement = statement.where(TrainingRow.batch_id == batch_id)
    if source is not None:
        statement = statement.where(TrainingRow.source == source)
    if row_ids:
        statement = statement.where(TrainingRow.id.in_(row_ids))
    with container.db.transaction() as session:
        # An UPDATE's result is a CursorResult; Session.execute is typed for any statement's.
        result = cast("CursorResult[Any]", session.execute(statement))
        return int(result.rowcount or 0)
