"""The steps of one training: gather the rows, fit a challenger, evaluate it beside the champion, let
the gate decide, store the model and the next retrain's targets, promote it or not.

``fit``, ``evaluate`` and ``decide`` are pure: they take what the earlier steps produced and touch
neither the database nor the bucket. ``gather``, ``store`` and ``promote`` are the only ones that do,
through the training store and the model registry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from svmflow import contracts
from svmflow.contracts import ArtifactMetrics, Evaluation
from svmflow.db.queries import StoredRow
from svmflow.db.stores.training import TrainingStore
from svmflow.domain import gate, metrics, stats
from svmflow.domain.drift_windows import reference_metadata
from svmflow.domain.gate import GateInputs, WindowEvidence
from svmflow.domain.linear_model import LinearModel, sha256_hex
from svmflow.domain.metrics import MetricName, Score
from svmflow.domain.model_selection import CvResult, choose_c, cross_fitted
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
    LabelledRow,
    data_fingerprint,
    predict_rows,
    to_arrays,
)
from svmflow.domain.training import fit as fit_model
from svmflow.errors import ArtifactIntegrityError, PreconditionFailedError
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, Pointer, library_versions, new_version
from svmflow.training.options import TrainingOptions

log = logging.getLogger(__name__)


# --- gather ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    train: list[LabelledRow]
    seed_holdout: list[LabelledRow]
    window: list[LabelledRow]  # the latest unbiased feedback, oldest first
    feedback_rows: int  # distinct vectors with a feedback label, quarantined ones included
    quarantined: int
    labels_total: int
    counts: RowCounts


@dataclass(frozen=True)
class RuleOutcome:
    """Each row's status once the quarantine rules ran, who set it and why, and the rows they changed."""

    statuses: dict[int, str]
    reasons: dict[int, tuple[str | None, str | None]]
    changes: dict[int, str | None]  # row id -> the rule's reason, None when it lets the row back in


def quarantine_rules(
    stored: Sequence[StoredRow], outlier_iqr: float, feature_names: Sequence[str] | None = None
) -> RuleOutcome:
    """Feedback rows beyond the robust range of the data (or of another width) are quarantined; a row
    the data has since grown towards is let back in. Rows an operator ruled on keep the operator's status
    and, unless quarantined by the operator, count towards the range."""
    reference = np.asarray(
        [s.row.features for s in stored if not (s.status_by == BY_OPERATOR and s.status == QUARANTINED)],
        dtype=np.float64,
    )
    width = len(stored[0].row.features) if stored else 0
    finite = reference[np.all(np.isfinite(reference), axis=1)] if len(reference) else reference
    bounds = RobustRange.of(finite, outlier_iqr, feature_names) if len(finite) else None
    outcome = RuleOutcome(statuses={}, reasons={}, changes={})
    for s in stored:
        outcome.statuses[s.id] = s.status
        outcome.reasons[s.id] = (s.status_by, s.status_reason)
        if s.row.source != FEEDBACK or s.status_by == BY_OPERATOR or bounds is None:
            continue
        reason = bounds.reason(s.row.features) if len(s.row.features) == width else "ragged row"
        wanted = QUARANTINED if reason else ACTIVE
        if wanted != s.status:
            outcome.changes[s.id] = reason
            outcome.statuses[s.id] = wanted
            outcome.reasons[s.id] = ("rule", reason) if reason else (None, None)
    return outcome


def split_rows(
    stored: Sequence[StoredRow], rules: RuleOutcome, labels_total: int, window: int
) -> TrainingData:
    """Active rows into training rows and the seed hold-out, the latest ``window`` unbiased feedback
    rows as evidence, and the counts the read model shows."""
    active = [s for s in stored if rules.statuses[s.id] == ACTIVE]
    held = [s for s in stored if rules.statuses[s.id] == QUARANTINED]
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
                by=rules.reasons[s.id][0],
                reason=rules.reasons[s.id][1],
            )
            for s in held[-QUARANTINE_LISTED:]
        ],
    )
    evidence = [s.row for s in active if s.row.source == FEEDBACK and s.row.kind == SAMPLE]
    return TrainingData(
        train=[s.row for s in active if not (s.row.source == SEED and s.holdout)],
        seed_holdout=[s.row for s in active if s.row.source == SEED and s.holdout],
        window=evidence[-window:] if window > 0 else [],
        feedback_rows=counts.feedback,
        quarantined=counts.quarantined,
        labels_total=labels_total,
        counts=counts,
    )


def gather(store: TrainingStore, options: TrainingOptions) -> TrainingData:
    """Read every row, apply the quarantine rules (re-applied on every training) and split the rows."""
    stored, labels_total = store.rows()
    rules = quarantine_rules(stored, options.outlier_iqr, options.feature_names)
    if rules.changes:
        store.apply_rule_statuses(rules.changes)
        log.warning("quarantine rules changed %d rows", len(rules.changes))
    return split_rows(stored, rules, labels_total, options.policy.window)


@dataclass(frozen=True)
class Champion:
    version: str | None  # the serving version, None before the first promotion
    model: LinearModel | None  # None when nothing serves or its artifact is unreadable
    metrics: ArtifactMetrics


def load_champion(registry: ModelRegistry, pointer: Pointer | None) -> Champion:
    if pointer is None:
        return Champion(version=None, model=None, metrics=ArtifactMetrics())
    try:
        model = registry.load(pointer.version, expected_sha256=pointer.sha256)
        return Champion(
            version=pointer.version, model=model, metrics=registry.metadata(pointer.version).metrics
        )
    except ArtifactIntegrityError as exc:
        log.error("champion %s is unreadable (%s); judging the challenger alone", pointer.version, exc)
        return Champion(version=pointer.version, model=None, metrics=ArtifactMetrics())


# --- fit ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fitted:
    model: LinearModel
    metric: MetricName
    cv: CvResult
    summary: TrainingSummary


def fit(data: TrainingData, options: TrainingOptions) -> Fitted:
    """Choose the metric and C by cross-validation, then fit the challenger on every training row.
    Raises ``TrainingDataError`` when the rows cannot be trained on (none, or one class)."""
    train = data.train
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
    model = fit_model(train, options.feedback_weight, cv.c, options.class_weight, options.feature_names)
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
    return Fitted(model=model, metric=metric, cv=cv, summary=summary)


# --- evaluate -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    window_truth: NDArray[np.int64]
    challenger_window: NDArray[np.int64]  # cross-fitted: each row predicted by a fit that did not see it
    inputs: GateInputs


def seed_score(metric: MetricName, model: LinearModel, rows: list[LabelledRow]) -> Score:
    _, truth = to_arrays(rows)
    return metrics.score(metric, truth, predict_rows(model, rows))


def evaluate(
    data: TrainingData, fitted: Fitted, champion: Champion, look: int, options: TrainingOptions
) -> Evidence:
    """Score both models on the seed hold-out and the window; ``look`` is this test's number against
    the champion (0 when there is no champion to test)."""
    window_truth = to_arrays(data.window)[1]
    challenger_window = (
        cross_fitted(
            data.train,
            data.window,
            c=fitted.cv.c,
            folds=options.cv_folds,
            feedback_weight=options.feedback_weight,
            class_weight=options.class_weight,
        )
        if data.window
        else np.empty(0, dtype=np.int64)
    )
    window = None
    champion_seed = None
    if champion.model is not None and champion.version is not None:
        window = WindowEvidence(window_truth, challenger_window, predict_rows(champion.model, data.window))
        champion_seed = seed_score(fitted.metric, champion.model, data.seed_holdout)
    inputs = GateInputs(
        metric=fitted.metric,
        challenger_seed=seed_score(fitted.metric, fitted.model, data.seed_holdout),
        champion_seed=champion_seed,
        window=window,
        champion_reference=champion.metrics.reference,
        look=look,
    )
    return Evidence(window_truth=window_truth, challenger_window=challenger_window, inputs=inputs)


# --- decide ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Judgement:
    record: DecisionRecord
    challenger: Evaluation
    champion: Evaluation | None
    reference: Reference  # the challenger's own: what drift is measured against if it serves
    labels_needed: int | None  # before the next training; None: the configured number applies
    reference_error: float  # of the model serving after this decision
    new_labels: int  # since the champion was trained

    @property
    def promote(self) -> bool:
        return self.record.verdict == "promoted"


def legacy_evaluation(seed: Score, seed_accuracy: float, window: Score | None) -> Evaluation:
    return Evaluation(
        seed_holdout_accuracy=seed_accuracy,
        seed_holdout_size=seed.rows,
        feedback_holdout_accuracy=None if window is None else window.value,
        feedback_holdout_size=0 if window is None else window.rows,
    )


def own_reference(data: TrainingData, fitted: Fitted, evidence: Evidence, min_window: int) -> Reference:
    """The challenger's accuracy on rows it had not seen: the window, cross-fitted, when it is large
    enough, else the cross-validation at the chosen C."""
    if len(data.window) >= min_window:
        errors = int(np.sum(evidence.challenger_window != evidence.window_truth))
        return Reference(
            accuracy=round(1 - errors / len(data.window), 6),
            errors=errors,
            rows=len(data.window),
            source="recent_feedback",
        )
    cv = fitted.cv
    return Reference(
        accuracy=round(1 - cv.errors / max(cv.rows, 1), 6),
        errors=cv.errors,
        rows=cv.rows,
        source="cross_validation",
    )


def labels_needed(record: DecisionRecord, look: int, options: TrainingOptions) -> int | None:
    """How many new labels the next test needs to have a chance: derived from the alpha it may spend
    and how often two models disagree (the last test's share, or the champion's error rate on the
    window when that is higher: a challenger can only win where the champion errs). Without a test (no
    champion, or too little evidence yet) there is nothing to derive from: None, and the configured
    number (SVMFLOW_RETRAIN_MIN_NEW_LABELS) applies."""
    if not record.tested:
        return None
    promote = record.verdict == "promoted"
    next_look = 1 if promote else look + 1
    disagreement = 0.1
    if record.window_rows:
        disagreement = (record.challenger_only + record.champion_only) / record.window_rows
        if record.champion_window is not None and record.metric == "accuracy":
            disagreement = max(disagreement, 1 - record.champion_window.value)
    return stats.labels_needed(
        stats.spent_alpha(options.policy.alpha, next_look) / 2,
        disagreement,
        options.retrain_min_labels,
        options.retrain_max_labels,
    )


def decide(
    data: TrainingData, fitted: Fitted, evidence: Evidence, champion: Champion, options: TrainingOptions
) -> Judgement:
    """The gate's verdict, and everything recorded beside it."""
    record = gate.decide(evidence.inputs, options.policy)

    def seed_accuracy(model: LinearModel) -> float:
        _, truth = to_arrays(data.seed_holdout)
        return metrics.value("accuracy", truth, predict_rows(model, data.seed_holdout))

    challenger_eval = legacy_evaluation(
        record.challenger_seed, seed_accuracy(fitted.model), record.challenger_window
    )
    champion_eval = (
        legacy_evaluation(record.champion_seed, seed_accuracy(champion.model), record.champion_window)
        if champion.model is not None and record.champion_seed is not None
        else None
    )
    reference = own_reference(data, fitted, evidence, options.policy.min_window)
    promote = record.verdict == "promoted"
    serving_reference = reference if promote else (record.champion_reference or reference)
    previous_total = champion.metrics.labels_total
    new_labels = data.labels_total if previous_total is None else data.labels_total - previous_total
    return Judgement(
        record=record,
        challenger=challenger_eval,
        champion=champion_eval,
        reference=reference,
        labels_needed=labels_needed(record, evidence.inputs.look, options),
        reference_error=1 - serving_reference.accuracy,
        new_labels=new_labels,
    )


# --- store ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stored:
    version: str
    data_fingerprint: str
    artifact_uri: str


def store(
    job_id: str,
    data: TrainingData,
    fitted: Fitted,
    judgement: Judgement,
    champion: Champion,
    *,
    rows: TrainingStore,
    registry: ModelRegistry,
    options: TrainingOptions | None = None,
) -> Stored:
    """Count the test against the champion, set the next retrain's targets, and save the challenger
    with every number it was judged on (a rejected one too: the registry keeps every candidate)."""
    if judgement.record.tested and champion.version is not None:
        rows.count_test(champion.version)
    rows.set_retrain_targets(judgement.labels_needed, judgement.reference_error)
    model = fitted.model
    artifact = model.to_bytes()
    version = new_version(artifact, job_id)
    fingerprint = data_fingerprint(data.train)
    registry.save(
        model,
        ArtifactMetadata(
            version=version,
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            job_id=job_id,
            data_fingerprint=fingerprint,
            train_size=len(data.train),
            feedback_rows=data.feedback_rows,
            metrics=ArtifactMetrics(
                challenger=judgement.challenger,
                champion=judgement.champion,
                champion_version=champion.version,
                new_labels=judgement.new_labels,
                labels_total=data.labels_total,
                n_features=model.n_features,
                feature_names=list(model.feature_names),
                reference=judgement.reference,
                record=judgement.record,
                training=fitted.summary,
                drift_reference=reference_metadata(to_arrays(data.train)[0], model.feature_names),
            ),
            library_versions=library_versions(),
            model_digest=None if options is None else options.model_digest,
            class_names=None if options is None or options.class_names is None else list(options.class_names),
        ),
    )
    return Stored(version=version, data_fingerprint=fingerprint, artifact_uri=registry.uri(version))


# --- promote --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Promotion:
    decision: contracts.Decision
    reason: str
    now_serving: str | None


def promote(
    registry: ModelRegistry, version: str, generation: int, judgement: Judgement, current: str | None
) -> Promotion:
    """Move the production pointer to ``version`` if the gate promoted it and the pointer is still
    where it was when training began; a promotion that lost that race is reported as a rejection."""
    record = judgement.record
    if not judgement.promote:
        return Promotion(decision="rejected", reason=record.sentence, now_serving=current)
    try:
        registry.promote(version, generation, reason=record.sentence)
    except PreconditionFailedError:
        latest, _ = registry.pointer()
        now_serving = latest.version if latest else None
        if now_serving != version:  # else our write landed and only its answer was lost
            return Promotion(
                decision="rejected",
                reason="another promotion moved the production pointer while this model trained",
                now_serving=now_serving,
            )
        return Promotion(decision="promoted", reason=record.sentence, now_serving=now_serving)
    return Promotion(decision="promoted", reason=record.sentence, now_serving=version)
