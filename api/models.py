"""What goes over HTTP: request and response bodies. The OpenAPI document is generated from these.

Request bodies reuse the message contracts' field rules (subject length, row width, row count), so a
batch the ingest API accepts is one the prediction function can decode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from svmflow.bulk.progress import BulkView
from svmflow.contracts import MAX_FEATURES, MAX_ROWS, CallbackUrl, FeatureRow, Rating, Subject
from svmflow.domain.drift_windows import DriftView
from svmflow.domain.explanations import ExplanationKey
from svmflow.domain.performance import VersionPerformance
from svmflow.views import (
    BatchDeliveries,
    BatchFailed,
    BatchResult,
    BatchView,
    DeadLetterView,
    JobView,
    ModelVersionView,
    TrainingLabel,
)

Subjects = Annotated[list[Subject], msgspec.Meta(min_length=1, max_length=MAX_ROWS)]
ClassLabel = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# A record keyed by feature name: every feature of the data set spec, no other key. Its values are
# checked against the spec (``rows_from_named``), which names the feature at fault.
NamedRecord = Annotated[dict[str, Any], msgspec.Meta(min_length=1, max_length=MAX_FEATURES)]


class BatchSubmission(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One subject id per row and one record per subject, given one of two ways: ``features``, arrays
    in the data set spec's feature order, or ``records``, each an array in that order or an object
    keyed by feature name."""

    subjects: Subjects
    features: Annotated[list[FeatureRow], msgspec.Meta(min_length=1, max_length=MAX_ROWS)] | None = None
    records: (
        Annotated[list[FeatureRow | NamedRecord], msgspec.Meta(min_length=1, max_length=MAX_ROWS)] | None
    ) = None
    # An https URL to POST a signed notification to once the batch is done or failed (Standard
    # Webhooks 1.0); without it, the API key's default callback, if one is configured.
    callback_url: CallbackUrl | None = None


class BatchAccepted(msgspec.Struct, kw_only=True):
    batch_id: str
    record_count: int
    status: str
    submitted_at: datetime
    location: str


class BatchPending(msgspec.Struct, kw_only=True):
    batch_id: str
    status: str


# The predict API serves the read model's stored JSON as is, so its schema is the read model's view.
class Batch(BatchView, kw_only=True):
    """A batch's results: status, model version, timestamps and one label and score per subject."""


class ExplainedResult(BatchResult, kw_only=True):
    """A result with each feature's exact contribution: one list per decision, one value per feature."""

    contributions: list[list[float]]
    features: list[float]  # the record's feature values as submitted, in feature_names order


class ExplainedBatch(msgspec.Struct, kw_only=True):
    """A batch's results with explanations (``?explain=true``)."""

    batch_id: str
    status: str
    model_version: str
    record_count: int
    submitted_at: datetime
    predicted_at: datetime
    explanation: ExplanationKey
    results: list[ExplainedResult]


class ModelPerformance(VersionPerformance, kw_only=True):
    """A model version's live accuracy, balanced accuracy and per-class recall from rated predictions,
    overall and per UTC day of prediction; each figure with its 95% Wilson interval and its count."""


class Deliveries(BatchDeliveries, kw_only=True):
    """A batch's completion webhooks: each one's URL, event, state (pending, delivered, failed after
    the last attempt, or disabled by a 410) and every attempt with its HTTP status or error."""


class ModelDrift(DriftView, kw_only=True):
    """A model version's live inputs against its training data: per feature, the PSI, the KS
    distance and the p-value of the latest closed window of ``window_size`` records, and whether it
    drifted at the configured threshold (``alpha``, the chance of a false alarm per window)."""


class BatchFailure(BatchFailed, kw_only=True):
    """A batch whose prediction request was dead-lettered: the reason, and the dead letter an operator
    can replay (then the batch is pending again until it is predicted)."""


class BatchListItem(msgspec.Struct, kw_only=True):
    batch_id: str
    submitted_at: datetime
    href: str
    # pending, done, or failed (its prediction request was dead-lettered; GET the batch for the reason)
    status: str


class BatchPage(msgspec.Struct, kw_only=True):
    items: list[BatchListItem]
    next_cursor: str | None


class FeedbackSubmission(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Ratings of a batch's predictions: 1 the prediction was right, 0 it was wrong.

    ``kind`` says how the rated rows were chosen. ``sample``: without regard to whether the model was
    right (the whole batch, a random subset, an audit), so the ratings are evidence for the promotion
    gate as well as training data. ``corrections``: only rows the model got wrong, training data only.
    ``auto`` (the default): ``sample`` when the ratings cover every row of the batch, else
    ``corrections``.

    ``labels`` names the right class of each subject (a class name of the data set spec), the
    correction a model of more than two classes needs; with ``labels`` the ratings may be left out
    (right is "the label is the predicted class"), and when both are given they must agree. A "wrong"
    rating of a multi-class prediction without its label counts for live accuracy but is never
    trained on."""

    subjects: Subjects
    ratings: Annotated[list[Rating], msgspec.Meta(min_length=1, max_length=MAX_ROWS)] | None = None
    labels: Annotated[list[ClassLabel], msgspec.Meta(min_length=1, max_length=MAX_ROWS)] | None = None
    kind: Literal["auto", "sample", "corrections"] = "auto"


class FeedbackAccepted(msgspec.Struct, kw_only=True):
    batch_id: str
    accepted: int
    status: str
    kind: str = "sample"  # how the ratings were recorded (``auto`` resolved)
    # When the ratings were recorded: the training data holds them once GET
    # /v1/batches/{id}/training-labels lists their subjects with this rated_at or a later one.
    rated_at: datetime | None = None


class TrainingLabels(msgspec.Struct, kw_only=True):
    """A batch's rated records whose labels reached the training data (written by feedback-to-training),
    one per subject with its newest rating; a subject not listed is not in the training data yet."""

    batch_id: str
    items: list[TrainingLabel]


# The predict API serves the stored views as they are; these name the listings' schemas.
class ModelListing(msgspec.Struct, kw_only=True):
    """Model versions, newest first, as the training function recorded them."""

    items: list[ModelVersionView]


class JobListing(msgspec.Struct, kw_only=True):
    """Training jobs, newest first, as the training function recorded them."""

    items: list[JobView]


class BulkSubmission(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A CSV or JSON-lines file in the bucket: ``gs://<bucket>/bulk/<name>`` or ``bulk/<name>``."""

    uri: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]


class BulkAccepted(msgspec.Struct, kw_only=True):
    job_id: str
    uri: str
    status: str
    submitted_at: datetime
    location: str


class BulkPending(msgspec.Struct, kw_only=True):
    job_id: str
    status: str


# The predict API serves the progress the bulk functions keep in Redis.
class BulkJob(BulkView, kw_only=True):
    """A bulk job's progress: rows done of the total, rate, ETA, and the output files when done."""


class Health(msgspec.Struct, kw_only=True):
    status: str
    checks: dict[str, str] = {}


class Me(msgspec.Struct, kw_only=True):
    """The caller's role: ``user`` or ``operator`` (for actions reserved to operators)."""

    role: str
    operator: bool


class RollbackSubmission(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The version to serve again; without one, the newest promoted version before the current one."""

    to_version: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None


class RollbackAccepted(msgspec.Struct, kw_only=True):
    """Published; the job (``job_id``) shows in /v1/jobs once the rollback function has acted."""

    job_id: str
    to_version: str
    status: str


class DeadLetterListing(msgspec.Struct, kw_only=True):
    items: list[DeadLetterView]


class ReplayAccepted(msgspec.Struct, kw_only=True):
    message_id: str
    topic: str
    status: str
