"""Message contracts for the topics.

Compact arrays (one list per column) rather than an object per record keep messages small and fast to
decode. Every message carries ``schema_version``; a consumer refuses a version it does not know. The
JSON Schemas in ``schema/messages`` are generated from these classes (``svmflow schema write``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sized
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec

from svmflow import topology
from svmflow.domain import batch_rules

# `X as X`: re-exported, the contract's limits are imported from here.
from svmflow.domain.batch_rules import MAX_FEATURES as MAX_FEATURES
from svmflow.domain.batch_rules import MAX_ROWS as MAX_ROWS
from svmflow.domain.batch_rules import MAX_SUBJECT_LENGTH as MAX_SUBJECT_LENGTH
from svmflow.domain.drift import ReferenceProfile
from svmflow.domain.drift_windows import FeatureFigures
from svmflow.domain.explanations import Explainer
from svmflow.domain.records import DecisionRecord, Reference, RowCounts, TrainingSummary

SCHEMA_VERSION: Final = 1  # Final: its type is Literal[1], the field's

Subject = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_SUBJECT_LENGTH)]
FeatureRow = Annotated[list[float], msgspec.Meta(min_length=1, max_length=MAX_FEATURES)]
BatchId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
CallbackUrl = Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
Rating = Literal[0, 1]
# A training job's state: queued, running, covered (another job trains on its labels) until it ends
# promoted, rejected, shadow (passed the gate, scores live batches in shadow before its promotion) or
# failed; rolled_back is a rollback (an operator's or an automatic one).
Decision = Literal["queued", "running", "covered", "promoted", "rejected", "shadow", "failed", "rolled_back"]
# Why a training is asked for; shadow: promote the shadow model its request id names (``shadow-<version>``),
# its scoring done.
TrainingReason = Literal["labels", "manual", "drift", "shadow"]
PENDING_DECISIONS = ("queued", "running")


def decision_rank(decision: str, moment: datetime) -> int:
    """Orders the events of one job: an ending state beats any pending one, else the newest wins, so
    the read model and the job log converge whatever order the events arrive in."""
    final = decision not in PENDING_DECISIONS
    # Below 2**53, so Redis's Lua (doubles) compares it exactly; microseconds stay under 4e15 until 2096.
    return 4_000_000_000_000_000 * final + int(moment.timestamp() * 1_000_000)


class Contract(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=False):
    schema_version: Literal[1] = SCHEMA_VERSION


def _check_batch(
    owner: str, subjects: list[str], columns: Mapping[str, Sized], rows: list[list[float]] | None = None
) -> None:
    """The batch rules (``domain.batch_rules``): columns that line up with ``subjects``, subjects
    unique within the batch, and feature ``rows`` (when given) of one width."""
    breach = batch_rules.first_breach(subjects, columns, features=rows)
    if breach is None:
        return
    if isinstance(breach, batch_rules.NoSubjects):
        raise ValueError(f"{owner}: subjects must not be empty")
    if isinstance(breach, batch_rules.MisalignedColumn):
        raise ValueError(
            f"{owner}: {breach.name} has {breach.entries} entries but subjects has {breach.subjects}"
        )
    if isinstance(breach, batch_rules.RepeatedSubject):
        raise ValueError(f"{owner}: subjects must be unique within a batch")
    raise ValueError(f"{owner}: every feature row must have the same length")


class BulkChunk(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Marks a prediction request as one chunk of a bulk file: its answer goes to bulk-predictions,
    predicted by the model version pinned for the whole file. Its subjects are the rows' line numbers."""

    job_id: BatchId
    chunk: Annotated[int, msgspec.Meta(ge=0)]
    output: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]
    model_version: str
    model_sha256: str
    # The file's own subject column, when it has one (it need not be unique, so it is not the subject).
    ids: Annotated[list[str], msgspec.Meta(max_length=MAX_ROWS)] | None = None


class PredictionRequest(Contract, kw_only=True):
    """Published by the ingest API: one batch of records to classify (or by bulk-split: one chunk)."""

    batch_id: BatchId
    subjects: Annotated[list[Subject], msgspec.Meta(max_length=MAX_ROWS)]
    features: Annotated[list[FeatureRow], msgspec.Meta(max_length=MAX_ROWS)]
    submitted_at: datetime
    bulk: BulkChunk | None = None
    # Where to POST a signed notification once the batch is done or failed (checked by the ingest API).
    callback_url: CallbackUrl | None = None

    def __post_init__(self) -> None:
        _check_batch("prediction request", self.subjects, {"features": self.features}, rows=self.features)


class ShadowFlip(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One record the shadow model would have labelled differently."""

    batch_id: str
    subject: str
    label: int  # the champion's answer, returned to the client
    shadow_label: int


SHADOW_EXAMPLES = 5  # flips kept per batch, and in a promotion record


class ShadowScores(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A batch scored by the shadow model too: never returned to clients, only counted."""

    version: str
    champion_version: str
    records: int
    flips: int
    examples: list[ShadowFlip]
    # Shadow-scored records after which the shadow is promoted (set when it was stored).
    promote_after: int


class ShadowReport(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """In a promotion after shadow scoring: how many live predictions the model would have changed."""

    champion_version: str
    records: int
    flips: int
    examples: list[ShadowFlip]


class Predictions(Contract, kw_only=True):
    """Published by the prediction function: the request plus one label and score per subject."""

    batch_id: BatchId
    subjects: list[Subject]
    features: list[FeatureRow]
    labels: list[int]
    scores: list[float]
    model_version: str
    # The served spec's class names, indexed by label, so poll answers can name the class.
    classes: list[str] | None = None
    submitted_at: datetime
    predicted_at: datetime
    # The model's scaler and weights (a few dozen numbers), so the read model can explain any record
    # of the batch exactly without reaching the model.
    explainer: Explainer | None = None
    shadow: ShadowScores | None = None
    # The request's callback URL, carried on to the function that sends the completion webhook.
    callback_url: CallbackUrl | None = None

    def __post_init__(self) -> None:
        if isinstance(self.features, msgspec.Raw):  # forwarded verbatim by the prediction function
            _check_batch("predictions", self.subjects, {"labels": self.labels, "scores": self.scores})
            return
        columns: dict[str, Sized] = {"features": self.features, "labels": self.labels, "scores": self.scores}
        _check_batch("predictions", self.subjects, columns)


FeedbackKind = Literal["sample", "corrections"]


class Feedback(Contract, kw_only=True):
    """Published by the predict API: 1 means the prediction was right, 0 that it was wrong.

    ``labels``, when given, is the right class of each subject (its index in the data set spec's
    classes), or null where it is not known: a multi-class model's "wrong" without the right class,
    kept as a verdict but never a training label. Without ``labels`` the model is binary and a wrong
    prediction's right class is the other one.

    ``kind``: ``sample`` when the rated rows were chosen without regard to whether the model was right
    (a batch rated in full, a random subset, an audit), so confirmations and corrections together are an
    unbiased sample the gate may use as evidence; ``corrections`` when the client reports mistakes only,
    which are training data but would flatter any challenger as evidence. ``labelled_by`` names who
    rated (the API key's identity)."""

    batch_id: BatchId
    subjects: Annotated[list[Subject], msgspec.Meta(max_length=MAX_ROWS)]
    ratings: list[Rating]
    rated_at: datetime
    kind: FeedbackKind = "sample"
    labelled_by: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    labels: list[Annotated[int, msgspec.Meta(ge=0)] | None] | None = None

    def __post_init__(self) -> None:
        columns: dict[str, list[Any]] = {"ratings": self.ratings}
        if self.labels is not None:
            columns["labels"] = self.labels
        _check_batch("feedback", self.subjects, columns)

    def true_labels(self, predicted: list[int]) -> list[int | None]:
        """The right class of each subject given its predicted label; None where it is not known."""
        if self.labels is not None:
            return list(self.labels)
        # Binary: a prediction rated wrong has the other label.
        return [p if r == 1 else 1 - p for p, r in zip(predicted, self.ratings, strict=True)]


class BulkRequest(Contract, kw_only=True):
    """Published by the ingest API: predict every row of a file in the bucket."""

    job_id: BatchId
    uri: str  # as the caller named it
    path: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]  # the object in the bucket
    format: Literal["csv", "jsonl"]
    output: Annotated[str, msgspec.Meta(min_length=1, max_length=2048)]  # results go under this prefix
    submitted_at: datetime


class BulkPredictions(Contract, kw_only=True):
    """Published by the prediction function for a bulk chunk: a label and score per line."""

    job_id: BatchId
    chunk: Annotated[int, msgspec.Meta(ge=0)]
    output: str
    model_version: str
    lines: list[int]
    ids: list[str] | None = None
    labels: list[int]
    scores: list[float]
    predicted_at: datetime

    def __post_init__(self) -> None:
        if not len(self.lines) == len(self.labels) == len(self.scores):
            raise ValueError("bulk predictions: lines, labels and scores must line up")
        if self.ids is not None and len(self.ids) != len(self.lines):
            raise ValueError("bulk predictions: ids must line up with lines")


class TrainingRequest(Contract, kw_only=True):
    """Asks for a retrain: after enough new labels, on an operator's request, or (when enabled) on
    input drift."""

    request_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    reason: TrainingReason
    requested_at: datetime
    new_labels: int = 0


class RollbackRequest(Contract, kw_only=True):
    """Published by the predict API for an operator: serve ``to_version`` again. The API names the
    version, so a redelivered request re-points to the same one instead of walking further back."""

    request_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    to_version: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    # A digest of the operator's API key, never the key: who asked, for the job record. "auto" for
    # the automatic rollback of a promotion whose live accuracy dropped.
    requested_by: str
    requested_at: datetime
    # Why, for the job record (the automatic rollback's test figures); and the version this request
    # means to roll back from: if production has moved on meanwhile, the request is refused.
    reason: Annotated[str, msgspec.Meta(max_length=900)] | None = None
    from_version: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class DeadLetterReplay(Contract, kw_only=True):
    """Published by the predict API for an operator: publish one dead letter again to the topic it came
    from. Keyed by the dead letter's message id, so a redelivered command replays it at most once."""

    request_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    message_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    topic: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]  # the topic it came from
    # A digest of the operator's API key, never the key.
    requested_by: str
    requested_at: datetime


class DriftEvent(Contract, kw_only=True):
    """Published by the drift monitor when a window of a model version's live inputs drifted from
    the version's training data. ``event_id`` (version and window) is the same on every redelivery,
    so a consumer can drop duplicates."""

    event_id: str
    model_version: str
    window: int  # 1 for the version's first window
    window_size: int
    alpha: float
    drifted_features: list[str]
    features: list[FeatureFigures]
    detected_at: datetime


class Evaluation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Accuracy of one model on the shared hold-out, the trusted seed part and the feedback part apart."""

    seed_holdout_accuracy: float
    seed_holdout_size: int
    feedback_holdout_accuracy: float | None
    feedback_holdout_size: int


class ModelFigures(msgspec.Struct, kw_only=True):
    """The figures of a trained model that the job log and the model's artifact both keep."""

    challenger: Evaluation | None = None
    champion: Evaluation | None = None
    n_features: int | None = None
    feature_names: list[str] | None = None
    new_labels: int = 0
    record: DecisionRecord | None = None
    training: TrainingSummary | None = None


class ModelMetrics(ModelFigures, kw_only=True):
    """A training job's figures as the job log keeps them (the ``metrics`` of its database rows), from
    which a rebuild of the read model restores the job's event."""

    feedback_rows: int = 0


class ArtifactMetrics(ModelFigures, kw_only=True):
    """The ``metrics`` of a model artifact's metadata. Every key has a default because artifacts
    written by earlier releases stay in the bucket and lack the keys added since."""

    champion_version: str | None = None  # the version serving when this one was judged
    labels_total: int | None = None  # feedback labels when trained: the next training's new labels
    reference: Reference | None = None  # accuracy on unseen rows, what accuracy drift is measured against
    drift_reference: ReferenceProfile | None = None  # what the drift monitor compares live inputs with


class ModelEvent(Contract, kw_only=True):
    """Published by the training function (and by a rollback): what was decided and why."""

    job_id: str
    request_id: str
    decision: Decision
    reason: str
    candidate_version: str | None
    current_version: str | None
    previous_version: str | None
    challenger: Evaluation | None = None
    champion: Evaluation | None = None
    train_size: int = 0
    new_labels: int = 0
    data_fingerprint: str | None = None
    artifact_uri: str | None = None
    # Features per row the candidate expects; the ingest API refuses other widths up front.
    n_features: int | None = None
    # Their names, in order (the model's data set spec), so clients can label and check columns.
    feature_names: list[str] | None = None
    finished_at: datetime
    # Distinct feature vectors with a feedback label when the candidate was trained.
    feedback_rows: int = 0
    # The gate's decision with every number it used, and how the candidate was fitted.
    record: DecisionRecord | None = None
    training: TrainingSummary | None = None
    rows: RowCounts | None = None
    # A promotion after shadow scoring: the live predictions the model would have flipped.
    shadow: ShadowReport | None = None

    def metrics(self) -> ModelMetrics:
        return ModelMetrics(
            challenger=self.challenger,
            champion=self.champion,
            n_features=self.n_features,
            feature_names=self.feature_names,
            new_labels=self.new_labels,
            feedback_rows=self.feedback_rows,
            record=self.record,
            training=self.training,
        )


class WebhookTick(Contract, kw_only=True):
    """Published every minute (Cloud Scheduler; a timer in the embedded runtime): deliver the
    completion webhooks that are due. It carries nothing else, so a scheduler can send it verbatim."""


class _FeaturesOnly(msgspec.Struct):
    features: msgspec.Raw


def raw_features(data: bytes) -> msgspec.Raw:
    """A request's features exactly as they arrived, so they can be forwarded without re-encoding
    every number (at 10,000 rows, re-encoding costs more than predicting)."""
    return msgspec.json.decode(data, type=_FeaturesOnly).features


MESSAGE_TYPES: dict[str, type[Contract]] = {
    topology.PREDICTION_REQUESTS: PredictionRequest,
    topology.PREDICTIONS: Predictions,
    topology.FEEDBACK: Feedback,
    topology.TRAINING_REQUESTS: TrainingRequest,
    topology.MODELS: ModelEvent,
    topology.BULK_REQUESTS: BulkRequest,
    topology.BULK_PREDICTIONS: BulkPredictions,
    topology.ROLLBACK_REQUESTS: RollbackRequest,
    topology.DEAD_LETTER_REPLAYS: DeadLetterReplay,
    topology.WEBHOOK_TICKS: WebhookTick,
    topology.DRIFT_EVENTS: DriftEvent,
}

C = TypeVar("C", bound=Contract)

_encoder = msgspec.json.Encoder()
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def encode(message: Contract) -> bytes:
    return _encoder.encode(message)


def encode_value(value: Any) -> bytes:
    """Any msgspec-encodable value (part of a message) as JSON."""
    return _encoder.encode(value)


def decode(data: bytes, kind: type[C]) -> C:
    """Decode and validate; raises ``msgspec.ValidationError`` or ``msgspec.DecodeError``."""
    decoder = _decoders.get(kind)
    if decoder is None:
        with _decoders_lock:
            decoder = _decoders.get(kind)
            if decoder is None:
                decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    decoded: C = decoder.decode(data)  # the decoder stored under `kind` decodes a `kind`
    return decoded


# Built once, here, while the module is imported by one thread: msgspec resolves a Struct's nested
# types on first use, and two threads doing that at once for the same types can crash the process.
_decoders_lock = threading.Lock()
for _kind in MESSAGE_TYPES.values():
    _decoders[_kind] = msgspec.json.Decoder(_kind)


def json_schemas() -> dict[str, dict[str, Any]]:
    """One JSON Schema per topic, from the classes above."""
    schemas: dict[str, dict[str, Any]] = {}
    for topic, kind in MESSAGE_TYPES.items():
        schema = msgspec.json.schema(kind)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["title"] = f"{topic} message (schema_version {SCHEMA_VERSION})"
        schemas[topic] = schema
    return schemas
