"""training-to-db: the job log and the model registry in Postgres."""

from __future__ import annotations

import msgspec

from svmflow.contracts import ModelEvent, decision_rank
from svmflow.db.database import Database, as_utc
from svmflow.db.tables import ModelVersion, TrainingJob
from svmflow.messaging import EventContext

CONSUMER = "training_to_db"


def handle(event: ModelEvent, context: EventContext, *, db: Database) -> None:
    """Keyed by job id and version: a replayed event changes nothing; a job's row converges to its
    highest-ranked state."""
    metrics = msgspec.to_builtins(event.metrics())
    with db.transaction() as session:
        if not db.claim_event(session, CONSUMER, context.event_id):
            return
        row = {
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
        # A job is reported queued, then running, then with its outcome; events can arrive in any
        # order, so the row keeps the one that ranks highest (an outcome beats any pending state).
        if not db.insert_one_ignore(session, TrainingJob, row):
            stored = session.get(TrainingJob, event.job_id, with_for_update=True)
            if stored is not None and decision_rank(event.decision, event.finished_at) > decision_rank(
                stored.decision, as_utc(stored.finished_at)
            ):
                for key, value in row.items():
                    setattr(stored, key, value)
        if event.candidate_version and event.decision in ("promoted", "rejected"):
            db.insert_ignore(
                session,
                ModelVersion,
                [
                    {
                        "version": event.candidate_version,
                        "job_id": event.job_id,
                        "decision": event.decision,
                        "artifact_uri": event.artifact_uri,
                        "data_fingerprint": event.data_fingerprint,
                        "metrics": metrics,
                        "created_at": event.finished_at,
                    }
                ],
            )
