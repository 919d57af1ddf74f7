"""training: fit a challenger, evaluate it against the champion, store it, promote it or not."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import msgspec
import numpy as np
from sqlalchemy.exc import OperationalError

from svmflow import contracts, topology
from svmflow.contracts import Evaluation, ModelEvent, TrainingRequest
from svmflow.db import job_queue, queries
from svmflow.db.database import Database, as_utc
from svmflow.db.tables import RetrainState, TrainingRequestRecord
from svmflow.domain import metrics, stats
from svmflow.domain.drift_windows import reference_metadata
from svmflow.domain.gate import GateInputs, GatePolicy, WindowEvidence, decide
from svmflow.domain.linear_model import LinearModel, sha256_hex
from svmflow.domain.metrics import MetricName, Score
from svmflow.domain.model_selection import DEFAULT_C_GRID, choose_c, cross_fitted
from svmflow.domain.quarantine import ACTIVE, BY_OPERATOR, QUARANTINED, RobustRange
from svmflow.domain.records import (
    QUARANTINE_LISTED,
    DecisionRecord,
    QuarantinedRow,
    Reference,
    RowCounts,
    TrainingSummary,
)
from svmflow.domain.training import (
    FEEDBACK,
    SAMPLE,
    SEED,
    ClassWeight,
    LabelledRow,
    TrainingDataError,
    data_fingerprint,
    fit,
    predict_rows,
    to_arrays,
)
from svmflow.errors import ArtifactIntegrityError, BusyError, PreconditionFailedError
from svmflow.messaging import PUBLISH_TIMEOUT_SECONDS, EventContext, new_traceparent
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, library_versions, new_version
from svmflow.ports import Publisher

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
    metric: str = "auto"  # auto, accuracy, balanced_accuracy or macro_f1
    imbalance_share: float = 0.3  # auto: balanced accuracy when the smaller class is below this share
    class_weight: ClassWeight = "none"
    c_grid: tuple[float, ...] = DEFAULT_C_GRID
    cv_folds: int = 5
    outlier_iqr: float = 3.0  # quarantine feedback beyond the quartiles +/- this many IQRs
    retrain_min_labels: int = 20  # bounds of the derived number of new labels before the next training
    retrain_max_labels: int = 300


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
    run = partial(_run, db=db, registry=registry, publisher=publisher, options=options)
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
            event = run(job_id, request, holder, context)
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
        record=msgspec.convert(metrics.get("record"), DecisionRecord | None),
        training=msgspec.convert(metrics.get("training"), TrainingSummary | None),
        feedback_rows=metadata.feedback_rows,
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


@dataclass(frozen=True)
class TrainingData:
    train: list[LabelledRow]
    seed_holdout: list[LabelledRow]
    window: list[LabelledRow]  # the latest unbiased feedback, oldest first
    feedback_rows: int  # distinct vectors with a feedback label, quarantined ones included
    quarantined: int
    labels_total: int
    counts: RowCounts


def gather(db: Database, options: TrainingOptions) -> TrainingData:
    """Read every row, apply the quarantine rules, and split into training rows, the seed hold-out and
    the evidence window. The rules are re-applied on every training (a row the data has since grown
    towards is let back in); rows an operator ruled on keep the operator's status."""
    with db.transaction() as session:
        stored = queries.stored_rows(session)
        total = queries.labels_total(session)
    reference = np.asarray(
        [s.row.features for s in stored if not (s.status_by == BY_OPERATOR and s.status == QUARANTINED)],
        dtype=np.float64,
    )
    width = len(stored[0].row.features) if stored else 0
    finite = reference[np.all(np.isfinite(reference), axis=1)] if len(reference) else reference
    bounds = RobustRange.of(finite, options.outlier_iqr) if len(finite) else None
    changes: dict[int, str | None] = {}
    statuses: dict[int, str] = {}
    reasons: dict[int, tuple[str | None, str | None]] = {}
    for s in stored:
        statuses[s.id] = s.status
        reasons[s.id] = (s.status_by, s.status_reason)
        if s.row.source != FEEDBACK or s.status_by == BY_OPERATOR or bounds is None:
            continue
        reason = bounds.reason(s.row.features) if len(s.row.features) == width else "ragged row"
        wanted = QUARANTINED if reason else ACTIVE
        if wanted != s.status:
            changes[s.id] = reason
            statuses[s.id] = wanted
            reasons[s.id] = ("rule", reason) if reason else (None, None)
    if changes:
        with db.transaction() as session:
            queries.apply_rule_statuses(session, changes)
        log.warning("quarantine rules changed %d rows", len(changes))
    active = [s for s in stored if statuses[s.id] == ACTIVE]
    held = [s for s in stored if statuses[s.id] == QUARANTINED]
    counts = RowCounts(
        seed=sum(1 for s in stored if s.row.source == SEED),
        feedback=sum(1 for s in stored if s.row.source == FEEDBACK),
        sample=sum(1 for s in stored if s.row.source == FEEDBACK and s.row.kind == SAMPLE),
        quarantined=len(held),
        quarantined_rows=[
            QuarantinedRow(
                id=s.id,
                source=s.row.source,
                batch_id=s.batch_id,
                subject=s.subject,
                features=list(s.row.features),
                label=s.row.label,
                by=reasons[s.id][0],
                reason=reasons[s.id][1],
            )
            for s in held[-QUARANTINE_LISTED:]
        ],
    )
    window = [s.row for s in active if s.row.source == FEEDBACK and s.row.kind == SAMPLE]
    return TrainingData(
        train=[s.row for s in active if not (s.row.source == SEED and s.holdout)],
        seed_holdout=[s.row for s in active if s.row.source == SEED and s.holdout],
        window=window[-options.policy.window :] if options.policy.window > 0 else [],
        feedback_rows=counts.feedback,
        quarantined=counts.quarantined,
        labels_total=total,
        counts=counts,
    )


def seed_score(metric: MetricName, model: LinearModel, rows: list[LabelledRow]) -> Score:
    _, truth = to_arrays(rows)
    return metrics.score(metric, truth, predict_rows(model, rows))


def legacy_evaluation(seed: Score, seed_accuracy: float, window: Score | None) -> Evaluation:
    return Evaluation(
        seed_holdout_accuracy=seed_accuracy,
        seed_holdout_size=seed.rows,
        feedback_holdout_accuracy=None if window is None else window.value,
        feedback_holdout_size=0 if window is None else window.rows,
    )


def train_and_decide(
    job_id: str,
    request: TrainingRequest,
    *,
    db: Database,
    registry: ModelRegistry,
    options: TrainingOptions,
) -> ModelEvent:
    data = gather(db, options)
    train = data.train
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
            feedback_rows=data.feedback_rows,
            rows=data.counts,
            **fields,  # type: ignore[arg-type]
        )

    policy = options.policy
    try:
        _, train_labels = to_arrays(train)
        metric = metrics.choose(options.metric, train_labels, options.imbalance_share)
        cv = choose_c(
            train,
            grid=options.c_grid,
            metric=metric,
            folds=options.cv_folds,
            feedback_weight=options.feedback_weight,
            class_weight=options.class_weight,
        )
        challenger = fit(train, options.feedback_weight, cv.c, options.class_weight)
    except TrainingDataError as exc:
        return outcome("failed", f"cannot train: {exc}", candidate_version=None)
    summary = TrainingSummary(
        c=cv.c,
        c_grid=list(cv.grid),
        cv_scores=list(cv.scores),
        class_weight=options.class_weight,
        metric=metric,
        train_rows=len(train),
        seed_rows=sum(1 for r in train if r.source == SEED),
        feedback_rows=sum(1 for r in train if r.source == FEEDBACK),
        quarantined_rows=data.quarantined,
    )

    champion: LinearModel | None = None
    champion_metrics: dict[str, object] = {}
    if pointer is not None:
        try:
            champion = registry.load(pointer.version, expected_sha256=pointer.sha256)
            champion_metrics = registry.metadata(pointer.version).metrics
        except ArtifactIntegrityError as exc:
            log.error("champion %s is unreadable (%s); judging the challenger alone", pointer.version, exc)
    window_truth = to_arrays(data.window)[1]
    challenger_window = (
        cross_fitted(
            train,
            data.window,
            c=cv.c,
            folds=options.cv_folds,
            feedback_weight=options.feedback_weight,
            class_weight=options.class_weight,
        )
        if data.window
        else np.empty(0, dtype=np.int64)
    )
    evidence = None
    champion_seed = None
    look = 0
    if champion is not None and current is not None:
        evidence = WindowEvidence(window_truth, challenger_window, predict_rows(champion, data.window))
        champion_seed = seed_score(metric, champion, data.seed_holdout)
        with db.transaction() as session:
            look = queries.tests_so_far(session, current) + 1
    reference = champion_metrics.get("reference")
    record = decide(
        GateInputs(
            metric=metric,
            challenger_seed=seed_score(metric, challenger, data.seed_holdout),
            champion_seed=champion_seed,
            window=evidence,
            champion_reference=msgspec.convert(reference, Reference) if reference else None,
            look=look,
        ),
        policy,
    )
    promote = record.verdict == "promoted"
    if record.tested and current is not None:
        with db.transaction() as session:
            queries.count_test(session, db.insert, current, datetime.now(UTC))

    # How many new labels the next test needs to have a chance: derived from the alpha it may spend
    # and the share of rows on which two successive models disagree.
    def seed_accuracy(model: LinearModel) -> float:
        _, truth = to_arrays(data.seed_holdout)
        return metrics.value("accuracy", truth, predict_rows(model, data.seed_holdout))

    challenger_eval = legacy_evaluation(
        record.challenger_seed, seed_accuracy(challenger), record.challenger_window
    )
    champion_eval = (
        legacy_evaluation(record.champion_seed, seed_accuracy(champion), record.champion_window)
        if champion is not None and record.champion_seed is not None
        else None
    )
    # What drift will be measured against if this model serves: its accuracy on rows it had not seen.
    if len(data.window) >= policy.min_window:
        errors = int(np.sum(challenger_window != window_truth))
        own_reference = Reference(
            accuracy=round(1 - errors / len(data.window), 6),
            errors=errors,
            rows=len(data.window),
            source="recent_feedback",
        )
    else:
        own_reference = Reference(
            accuracy=round(1 - cv.errors / max(cv.rows, 1), 6),
            errors=cv.errors,
            rows=cv.rows,
            source="cross_validation",
        )
    # How many new labels the next test needs to have a chance: derived from the alpha it may spend
    # and how often two models disagree (the last test's share, or the champion's error rate on the
    # window when that is higher: a challenger can only win where the champion errs).
    serving_reference = own_reference if promote else (record.champion_reference or own_reference)
    next_look = 1 if promote else look + 1
    disagreement = 0.1
    if record.tested and record.window_rows:
        disagreement = (record.challenger_only + record.champion_only) / record.window_rows
        if record.champion_window is not None and metric == "accuracy":
            disagreement = max(disagreement, 1 - record.champion_window.value)
    with db.transaction() as session:
        db.insert_ignore(session, RetrainState, [queries.initial_retrain_state(datetime.now(UTC))])
        # Without a test (no champion, or too little evidence yet) there is nothing to derive from:
        # the configured number (SVMFLOW_RETRAIN_MIN_NEW_LABELS) applies.
        needed = (
            stats.labels_needed(
                stats.spent_alpha(policy.alpha, next_look) / 2,
                disagreement,
                options.retrain_min_labels,
                options.retrain_max_labels,
            )
            if record.tested
            else None
        )
        queries.set_retrain_targets(session, needed, 1 - serving_reference.accuracy)
    previous_total = champion_metrics.get("labels_total")
    new_labels = (
        data.labels_total - int(previous_total) if isinstance(previous_total, int) else data.labels_total
    )

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
            feedback_rows=data.feedback_rows,
            metrics={
                "challenger": msgspec.to_builtins(challenger_eval),
                "champion": msgspec.to_builtins(champion_eval),
                "champion_version": current,
                "new_labels": new_labels,
                "labels_total": data.labels_total,
                "n_features": challenger.n_features,
                "feature_names": list(challenger.feature_names),
                "reference": msgspec.to_builtins(own_reference),
                "record": msgspec.to_builtins(record),
                "training": msgspec.to_builtins(summary),
                # What the drift monitor compares this version's live inputs with.
                "drift_reference": reference_metadata(to_arrays(train)[0], challenger.feature_names),
            },
            library_versions=library_versions(),
        ),
    )
    decision: contracts.Decision = "promoted" if promote else "rejected"
    reason, now_serving = record.sentence, current
    if promote:
        try:
            registry.promote(version, generation, reason=record.sentence)
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
        extra={"job_id": job_id, "candidate_version": version, "p_value": record.p_value},
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
        record=record,
        training=summary,
    )
