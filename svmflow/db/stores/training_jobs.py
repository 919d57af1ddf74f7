"""The job log and the model versions in the database, from the training function's events."""

from __future__ import annotations

from datetime import datetime
from typing import TypedDict

import msgspec

from svmflow.contracts import ModelEvent, decision_rank
from svmflow.db.database import Database, as_utc
from svmflow.db.tables import ModelVersion, TrainingJob


class JobRow(TypedDict):
    job_id: str
    request_id: str
    decision: str
    reason: str
    candidate_version: str | None
    current_version: str | None
    previous_version: str | None
    train_size: int
    new_labels: int
    metrics: dict[str, object]  # a ModelMetrics, as JSON
    finished_at: datetime


class VersionRow(TypedDict):
    version: str | None
    job_id: str
    decision: str
    artifact_uri: str | None
    data_fingerprint: str | None
    metrics: dict[str, object]
    created_at: datetime


class TrainingJobStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def record(self, event: ModelEvent, consumer: str, event_id: str) -> None:
        """Once per event: the job's row converges to its highest-ranked state, and a trained candidate
        (promoted or rejected) is listed among the model versions."""
        metrics: dict[str, object] = msgspec.to_builtins(event.metrics())
        row = _job_row(event, metrics)
        with self.db.transaction() as session:
            if not self.db.claim_event(session, consumer, event_id):
                return
            # A job is reported queued, then running, then with its outcome; events can arrive in any
            # order, so the row keeps the one that ranks highest (an outcome beats any pending state).
            if not self.db.insert_one_ignore(session, TrainingJob, row):
                stored = session.get(TrainingJob, event.job_id, with_for_update=True)
                if stored is not None and decision_rank(event.decision, event.finished_at) > decision_rank(
                    stored.decision, as_utc(stored.finished_at)
                ):
                    for key, value in row.items():
                        setattr(stored, key, value)
            if event.candidate_version and event.decision in ("promoted", "rejected", "shadow"):
                self.db.insert_ignore(session, ModelVersion, [_version_row(event, metrics)])


def _job_row(event: ModelEvent, metrics: dict[str, object]) -> JobRow:
    return {
        "job_id": event.job_id,
        "request_id": event.request_id,
        "decision": event.decision,
        "reason": event.reason[:1000],
        "candidate_version": event.candidate_version,
        "current_version": event.current_version,
        "previous_version": event.previous_version,
        "train_size": event.train_size,
        "new_labels": event.new_labels,
        "metrics": metrics,
        "finished_at": event.finished_at,
    }


def _version_row(event: ModelEvent, metrics: dict[str, object]) -> VersionRow:
    return {
        "version": event.candidate_version,
        "job_id": event.job_id,
        "decision": event.decision,
        "artifact_uri": event.artifact_uri,
        "data_fingerprint": event.data_fingerprint,
        "metrics": metrics,
        "created_at": event.finished_at,
    }
