"""What the APIs answer, as typed objects. Unknown fields are ignored, so a newer server does not break
an older client."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class Accepted(msgspec.Struct, kw_only=True):
    """A batch the ingest API accepted; its results come later."""

    batch_id: str
    record_count: int
    status: str
    submitted_at: datetime
    location: str = ""


class Prediction(msgspec.Struct, kw_only=True):
    subject: str
    label: int  # the class's position in the served data set spec's classes
    score: float
    class_name: str | None = msgspec.field(default=None, name="class")  # the class's name


class BatchResult(msgspec.Struct, kw_only=True):
    batch_id: str
    status: str
    model_version: str
    record_count: int
    submitted_at: datetime
    predicted_at: datetime
    results: list[Prediction]

    def label_of(self, subject: str) -> int:
        for prediction in self.results:
            if prediction.subject == subject:
                return prediction.label
        raise KeyError(f"subject {subject!r} is not in batch {self.batch_id}")


class FeedbackAccepted(msgspec.Struct, kw_only=True):
    batch_id: str
    accepted: int
    status: str


class Evaluation(msgspec.Struct, kw_only=True):
    seed_holdout_accuracy: float | None = None
    seed_holdout_size: int | None = None
    feedback_holdout_accuracy: float | None = None
    feedback_holdout_size: int | None = None


class CurrentModel(msgspec.Struct, kw_only=True):
    version: str
    since: str
    decision: str
    reason: str
    job_id: str
    evaluation: Evaluation | None = None
    n_features: int | None = None


class ModelVersion(msgspec.Struct, kw_only=True):
    version: str | None
    decision: str
    reason: str
    job_id: str
    created_at: str
    train_size: int = 0
    n_features: int | None = None
    artifact_uri: str | None = None
    data_fingerprint: str | None = None
    evaluation: Evaluation | None = None
    champion_evaluation: Evaluation | None = None


class Job(msgspec.Struct, kw_only=True):
    job_id: str
    request_id: str
    decision: str
    reason: str
    candidate_version: str | None
    current_version: str | None
    previous_version: str | None
    finished_at: datetime
    train_size: int = 0
    new_labels: int = 0
    challenger: Evaluation | None = None
    champion: Evaluation | None = None


class BulkAccepted(msgspec.Struct, kw_only=True):
    job_id: str
    uri: str
    status: str
    submitted_at: datetime
    location: str = ""


class BulkProgress(msgspec.Struct, kw_only=True):
    """A bulk job as the predict API reports it: rows done of the total, rate and ETA."""

    job_id: str
    status: str  # queued, splitting, running, done, failed
    uri: str = ""
    model_version: str | None = None
    rows_read: int = 0
    rows_total: int | None = None
    rows_done: int = 0
    rows_failed: int = 0
    chunks_total: int | None = None
    chunks_done: int = 0
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    results_uri: str | None = None
    errors_uri: str | None = None
    manifest_uri: str | None = None
    error: str | None = None
    extra: dict[str, Any] = {}

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")
