"""training-to-db: the job log and the model registry in Postgres."""

from __future__ import annotations

from svmflow.contracts import ModelEvent
from svmflow.db.database import Database
from svmflow.db.stores.training_jobs import TrainingJobStore
from svmflow.messaging import EventContext

CONSUMER = "training_to_db"


def handle(event: ModelEvent, context: EventContext, *, db: Database) -> None:
    """Keyed by job id and version: a replayed event changes nothing; a job's row converges to its
    highest-ranked state."""
    TrainingJobStore(db).record(event, CONSUMER, context.event_id)
