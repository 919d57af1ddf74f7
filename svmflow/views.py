"""The read model's views: what the projectors store in Redis, the rebuild restores and the APIs serve.

Defined once, here, below both the read model and the APIs, so that a field added to a view reaches the
projector, the rebuild, the responses and the OpenAPI document together. The field order is the order
of the JSON the APIs answer; the console and the clients read these names.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from svmflow.contracts import Evaluation, ModelEvent, ShadowReport
from svmflow.domain.records import DecisionRecord, RowCounts, TrainingSummary


class BatchResult(msgspec.Struct, kw_only=True):
    subject: str
    label: int  # the class's position in the data set spec's ``classes``
    # The class's name in the spec; unset on results stored before it was given.
    class_name: str | None = msgspec.field(default=None, name="class")
    score: float


def class_name_of(label: int, classes: list[str] | tuple[str, ...] | None) -> str | None:
    return classes[label] if classes is not None and 0 <= label < len(classes) else None


class BatchView(msgspec.Struct, kw_only=True):
    batch_id: str
    status: str
    model_version: str
    record_count: int
    submitted_at: datetime
    predicted_at: datetime
    results: list[BatchResult]


class ExplanationInputs(msgspec.Struct, kw_only=True):
    """A batch's feature rows and its model's explainer, both as JSON."""

    features: bytes
    explainer: bytes


class BatchFailed(msgspec.Struct, kw_only=True):
    """A batch whose prediction request was dead-lettered: why, and which dead letter replays it."""

    batch_id: str
    status: str = "failed"
    reason: str
    dead_letter_id: str
    submitted_at: datetime | None
    failed_at: datetime


class BatchSummary(msgspec.Struct, kw_only=True):
    batch_id: str
    submitted_at: float
    # pending (no answer yet), done, or failed (its prediction request was dead-lettered)
    status: str = "pending"


class DeadLetterView(msgspec.Struct, kw_only=True):
    """A message the system gave up on, as the operator sees it: where it came from, why, and the batch
    it leaves failed."""

    message_id: str
    topic: str  # the topic it was first published to, where a replay publishes it again
    reason: str
    batch_id: str | None
    function: str | None
    delivery_attempts: int | None
    dead_lettered_at: datetime


class TrainingLabel(msgspec.Struct, kw_only=True):
    """A rated record whose label is in the training data: the label, the rating that gave it and when
    the training rows were written."""

    subject: str
    label: int
    rated_at: datetime
    reached_at: datetime


class JobView(ModelEvent, kw_only=True):
    """A training job as listed: its highest-ranked event (queued, running, covered, then its outcome),
    exactly as the training function published it."""


class RolledBackNote(msgspec.Struct, kw_only=True):
    """On a version rolled back from: by which job, to which version, why and when."""

    job_id: str
    to_version: str | None
    reason: str
    at: str  # ISO 8601 with ``+00:00``


class ModelVersionView(msgspec.Struct, kw_only=True):
    """A trained model version with its metrics and the gate's decision on it."""

    version: str
    decision: str
    reason: str
    job_id: str
    # ISO 8601 as ``datetime.isoformat`` writes it (``+00:00``), which the listing has always served.
    created_at: str
    artifact_uri: str | None
    data_fingerprint: str | None
    train_size: int
    # Defaults for the fields added since the first release, so an entry stored before reads back.
    n_features: int | None = None
    feature_names: list[str] | None = None
    evaluation: Evaluation | None  # the version's own, on the hold-out of its training
    champion_evaluation: Evaluation | None  # the model it was judged against, on the same hold-out
    new_labels: int
    feedback_rows: int = 0
    decision_record: DecisionRecord | None = None
    training: TrainingSummary | None = None
    # Promoted after shadow scoring: the live predictions it would have flipped, with examples.
    shadow: ShadowReport | None = None
    # Rolled back from (by an operator or automatically): the rollback's job and reason.
    rolled_back: RolledBackNote | None = None


class CurrentModelView(msgspec.Struct, kw_only=True):
    """The model in production: the newest promotion or rollback, with the figures of the version it
    serves (a rollback carries none of its own, so they come from the version's entry)."""

    version: str
    since: str  # ISO 8601 with ``+00:00``, as for a model version's ``created_at``
    decision: str
    reason: str
    job_id: str
    evaluation: Evaluation | None = None
    n_features: int | None = None
    feature_names: list[str] | None = None


class TrainingRowsView(RowCounts, kw_only=True):
    """The training table as of the newest training: rows by source, unbiased feedback rows, and the
    quarantined rows with who quarantined them (a rule or an operator) and why."""

    as_of: str  # ISO 8601 with ``+00:00``
    job_id: str


class DeliveryAttemptView(msgspec.Struct, kw_only=True):
    at: datetime
    status: int | None  # the receiver's HTTP status; None when no answer came
    error: str | None
    duration_ms: float


class DeliveryView(msgspec.Struct, kw_only=True):
    """One completion webhook: pending (next_attempt_at says when), delivered, failed (given up after
    the last attempt) or disabled (the endpoint answered 410 Gone)."""

    id: str
    url: str
    event: str
    state: str
    attempts: list[DeliveryAttemptView]
    next_attempt_at: datetime | None


class BatchDeliveries(msgspec.Struct, kw_only=True):
    batch_id: str
    deliveries: list[DeliveryView]


def job_view(event: ModelEvent) -> JobView:
    return JobView(**msgspec.structs.asdict(event))


def model_version_view(event: ModelEvent) -> ModelVersionView:
    assert event.candidate_version is not None
    return ModelVersionView(
        version=event.candidate_version,
        decision=event.decision,
        reason=event.reason,
        job_id=event.job_id,
        created_at=event.finished_at.isoformat(),
        artifact_uri=event.artifact_uri,
        data_fingerprint=event.data_fingerprint,
        train_size=event.train_size,
        n_features=event.n_features,
        feature_names=event.feature_names,
        evaluation=event.challenger,
        champion_evaluation=event.champion,
        new_labels=event.new_labels,
        feedback_rows=event.feedback_rows,
        decision_record=event.record,
        training=event.training,
        shadow=event.shadow,
    )


def rolled_back_view(entry: ModelVersionView, event: ModelEvent) -> ModelVersionView:
    """The entry of the version a rollback left, marked with the rollback."""
    note = RolledBackNote(
        job_id=event.job_id,
        to_version=event.current_version,
        reason=event.reason,
        at=event.finished_at.isoformat(),
    )
    return msgspec.structs.replace(entry, rolled_back=note)


def current_model_view(event: ModelEvent, known: ModelVersionView | None) -> CurrentModelView:
    """A production change; a rollback (or a promotion event without figures) takes them from the
    version's entry."""
    assert event.current_version is not None
    promoted = event.decision == "promoted"
    evaluation = event.challenger if promoted else None
    n_features = event.n_features if promoted else None
    feature_names = event.feature_names if promoted else None
    if known is not None:
        evaluation = evaluation if evaluation is not None else known.evaluation
        n_features = n_features if n_features is not None else known.n_features
        feature_names = feature_names if feature_names is not None else known.feature_names
    return CurrentModelView(
        version=event.current_version,
        since=event.finished_at.isoformat(),
        decision=event.decision,
        reason=event.reason,
        job_id=event.job_id,
        evaluation=evaluation,
        n_features=n_features,
        feature_names=feature_names,
    )


def training_rows_view(event: ModelEvent, rows: RowCounts) -> TrainingRowsView:
    return TrainingRowsView(
        **msgspec.structs.asdict(rows), as_of=event.finished_at.isoformat(), job_id=event.job_id
    )
