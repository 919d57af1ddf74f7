"""feedback-to-performance: live accuracy, balanced accuracy and per-class recall per model version.

Ratings are joined to the predictions they rate (the verdicts, written here as well as by
feedback-to-db: the upsert is idempotent, so whichever runs first writes and the other changes
nothing, and this function never waits on the other). The version's counts are recomputed in
Postgres, then projected into the read model.
"""

from __future__ import annotations

from svmflow.contracts import Feedback
from svmflow.db.database import Database
from svmflow.db.stores.feedback import FeedbackStore
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel

CONSUMER = "feedback_to_performance"


def handle(message: Feedback, context: EventContext, *, db: Database, read_model: ReadModel) -> None:
    """Keyed by event id in the database; the projection is keyed by version and revision, so it is
    written again on a redelivery (say Redis was down after the commit) and the newest one wins."""
    figures = FeedbackStore(db).rate_and_recompute(message, CONSUMER, context.event_id)
    if figures is not None:
        read_model.put_performance(figures)
