"""SQLAlchemy 2 models. Portable between Postgres and SQLite; DDL for both lives in ``schema/sql``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from svmflow.contracts import Decision, TrainingReason

JsonColumn = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER keys only


class Base(DeclarativeBase):
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JsonColumn}


class TrainingRow(Base):
    """A labelled example: a row of the seed data set, or a feature vector someone rated.

    Feedback rows are keyed by the digest of their features (``source_key``): one vector, one label.
    A later rating that changes the label replaces it (``label_changes`` counts how often); the same
    vector rated again in another batch updates who and when, not the row count. ``batch_id`` and
    ``subject`` are where the vector was last rated.
    """

    __tablename__ = "training_rows"
    __table_args__ = (
        UniqueConstraint("source", "source_key"),
        Index("ix_training_rows_batch_id", "batch_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(16))
    source_key: Mapped[str] = mapped_column(String(300))
    features: Mapped[list[float]] = mapped_column(JsonColumn)
    label: Mapped[int] = mapped_column(SmallInteger)
    row_hash: Mapped[str] = mapped_column(String(64))
    holdout: Mapped[bool] = mapped_column(Boolean)
    labelled_at: Mapped[datetime]
    created_at: Mapped[datetime]
    # seed, sample (unbiased feedback: evidence for the gate) or corrections (training data only)
    kind: Mapped[str] = mapped_column(String(16), default="seed")
    batch_id: Mapped[str | None] = mapped_column(String(128), default=None)
    subject: Mapped[str | None] = mapped_column(String(128), default=None)
    labelled_by: Mapped[str | None] = mapped_column(String(64), default=None)
    label_changes: Mapped[int] = mapped_column(Integer, default=0)
    # active or quarantined; set by a rule or an operator (whose word the rules never overturn)
    status: Mapped[str] = mapped_column(String(16), default="active")
    status_by: Mapped[str | None] = mapped_column(String(16), default=None)
    status_reason: Mapped[str | None] = mapped_column(String(500), default=None)


class PredictionBatch(Base):
    __tablename__ = "prediction_batches"

    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    model_version: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int]
    submitted_at: Mapped[datetime]
    predicted_at: Mapped[datetime] = mapped_column(index=True)


class Prediction(Base):
    __tablename__ = "predictions"

    batch_id: Mapped[str] = mapped_column(
        ForeignKey("prediction_batches.batch_id", ondelete="CASCADE"), primary_key=True
    )
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[int]
    features: Mapped[list[float]] = mapped_column(JsonColumn)
    label: Mapped[int] = mapped_column(SmallInteger)
    score: Mapped[float] = mapped_column(Float)


class FeedbackVerdict(Base):
    """What a person said about one prediction; a later rating of the same subject replaces it."""

    __tablename__ = "feedback_verdicts"
    __table_args__ = (Index("ix_feedback_verdicts_model_version", "model_version"),)

    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    subject: Mapped[str] = mapped_column(String(128), primary_key=True)
    rating: Mapped[int] = mapped_column(SmallInteger)
    predicted_label: Mapped[int] = mapped_column(SmallInteger)
    corrected_label: Mapped[int] = mapped_column(SmallInteger)
    model_version: Mapped[str] = mapped_column(String(64))
    rated_at: Mapped[datetime]


class PerformanceCount(Base):
    """Live performance aggregates: rated predictions of a model version per UTC day of prediction,
    by (true label, predicted label). Recomputed from the verdicts, never incremented, so a replayed
    or replaced rating cannot count twice."""

    __tablename__ = "performance_counts"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)
    true_label: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    predicted_label: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    count: Mapped[int]


class PerformanceRevision(Base):
    """One row per model version: locked while its counts are recomputed (so two recomputations
    cannot interleave) and numbered, so the read model keeps the newest projection."""

    __tablename__ = "performance_revisions"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    revision: Mapped[int]
    updated_at: Mapped[datetime]


class ModelVersion(Base):
    """Every trained candidate, promoted or not, with what it scored."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(160))
    decision: Mapped[str] = mapped_column(String(16))
    artifact_uri: Mapped[str | None] = mapped_column(String(500))
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    metrics: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class TrainingJob(Base):
    """One training or rollback outcome, and which version was in production after it."""

    __tablename__ = "training_jobs"
    __table_args__ = (Index("ix_training_jobs_finished_at", "finished_at"),)

    job_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    request_id: Mapped[str] = mapped_column(String(160))
    decision: Mapped[Decision] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(1000))
    candidate_version: Mapped[str | None] = mapped_column(String(64))
    current_version: Mapped[str | None] = mapped_column(String(64))
    previous_version: Mapped[str | None] = mapped_column(String(64))
    train_size: Mapped[int]
    new_labels: Mapped[int]
    metrics: Mapped[dict[str, Any]]
    finished_at: Mapped[datetime]


class TrainingRequestRecord(Base):
    """Every training request from the moment it arrives, and the job that answers it.

    ``status``: queued, running, covered (another job trains on its labels: ``covered_by``), promoted,
    rejected or failed. A running job holds a short lease renewed by a heartbeat, so a crashed or frozen
    training frees its claim within ``lease_seconds``."""

    __tablename__ = "training_requests"
    __table_args__ = (Index("ix_training_requests_status", "status"),)

    request_id: Mapped[str] = mapped_column(String(160), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(160))
    reason: Mapped[TrainingReason] = mapped_column(String(16))
    status: Mapped[Decision] = mapped_column(String(16))
    covered_by: Mapped[str | None] = mapped_column(String(160))
    # Feedback labels the request asks a model to be trained on, and those the job's training saw.
    labels_wanted: Mapped[int]
    labels_seen: Mapped[int | None]
    holder: Mapped[str | None] = mapped_column(String(160))
    lease_expires_at: Mapped[datetime | None]
    attempts: Mapped[int]
    detail: Mapped[str] = mapped_column(String(1000))
    received_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ProcessedEvent(Base):
    """Deliveries already applied, so a redelivered message changes nothing."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    processed_at: Mapped[datetime]


class RetrainState(Base):
    """The debounce counter: ``labels_total`` counts every new label (a new vector, or a changed label
    of a known one); a training is requested once ``labels_needed`` more have arrived since the last
    request (the training job derives that number from the power its next test needs), or after a
    while with any."""

    __tablename__ = "retrain_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    labels_at_last_request: Mapped[int]
    last_request_id: Mapped[str | None] = mapped_column(String(160))
    updated_at: Mapped[datetime]
    labels_total: Mapped[int] = mapped_column(Integer, default=0)
    labels_needed: Mapped[int | None] = mapped_column(Integer, default=None)
    # The drift signal: unbiased ratings since the last request, how many said "wrong", and the
    # serving model's error rate at its training (set by the training function).
    sample_rated: Mapped[int] = mapped_column(Integer, default=0)
    sample_wrong: Mapped[int] = mapped_column(Integer, default=0)
    reference_error: Mapped[float | None] = mapped_column(Float, default=None)


class ChampionTests(Base):
    """How many paired tests the gate has run against a champion: each one spends part of its alpha."""

    __tablename__ = "champion_tests"

    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    tests: Mapped[int]
    updated_at: Mapped[datetime]


class DeadLetterRecord(Base):
    """A message the system gave up on, from the moment it reaches its dead-letter topic until an
    operator replays it. ``batch_id`` names the batch a dead-lettered prediction request leaves failed."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_batch_id", "batch_id"),)

    message_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(128))
    batch_id: Mapped[str | None] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(1000))
    attributes: Mapped[dict[str, Any]]
    submitted_at: Mapped[datetime | None]
    dead_lettered_at: Mapped[datetime]
    replayed_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    """One completion webhook: the batch's event, where it goes and every attempt so far.

    The id is the ``webhook-id`` every attempt carries (receivers deduplicate on it) and derives from
    the batch and the event, so a redelivered event records nothing new. ``state``: pending (an
    attempt is due at ``next_attempt_at``, or running until then: a claim pushes it past the attempt's
    timeout), delivered, failed (dead-lettered after the last attempt) or disabled (the endpoint
    answered 410 Gone, now or before)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_batch_id", "batch_id"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(128))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    # The JSON body exactly as every attempt sends it (and signs it).
    body: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    # One entry per attempt: at, status, error, duration_ms.
    history: Mapped[list[dict[str, Any]]] = mapped_column(JsonColumn)
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WebhookEndpoint(Base):
    """A callback URL that answered 410 Gone: nothing is sent to it again."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2048), primary_key=True)
    disabled_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(500))


class DriftState(Base):
    """A model version's live inputs as the drift monitor counts them: the open window's records
    (kept until it fills) and how many windows have closed. ``revision`` grows with every counted
    batch, so the newest projection wins in the read model."""

    __tablename__ = "drift_states"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    window_size: Mapped[int]
    windows_closed: Mapped[int]
    open_rows: Mapped[list[list[float]]] = mapped_column(JsonColumn)
    revision: Mapped[int]
    updated_at: Mapped[datetime]


class DriftWindow(Base):
    """A closed window of a model version's live inputs and its figures against the reference."""

    __tablename__ = "drift_windows"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    window: Mapped[int] = mapped_column(Integer, primary_key=True)
    rows: Mapped[int]
    alpha: Mapped[float] = mapped_column(Float)
    drifted: Mapped[bool]
    drifted_features: Mapped[list[str]] = mapped_column(JsonColumn)
    features: Mapped[list[dict[str, Any]]] = mapped_column(JsonColumn)
    reference_rows: Mapped[int]
    closed_at: Mapped[datetime]


class DriftBatch(Base):
    """Batches already counted in a version's windows: a redelivered or republished predictions
    message of the same batch and version is not counted twice."""

    __tablename__ = "drift_batches"

    model_version: Mapped[str] = mapped_column(String(64), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    counted_at: Mapped[datetime]


class ShadowScore(Base):
    """One batch scored by the model in shadow as well: how many records, how many it would have flipped
    and a few of them. Keyed by batch and shadow version, so a redelivered batch is counted once."""

    __tablename__ = "shadow_scores"

    batch_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[str] = mapped_column(String(64), primary_key=True)
    champion_version: Mapped[str] = mapped_column(String(64))
    records: Mapped[int]
    flips: Mapped[int]
    examples: Mapped[dict[str, Any]]  # {"flips": [ShadowFlip, ...]}
    scored_at: Mapped[datetime]
