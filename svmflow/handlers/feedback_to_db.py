"""feedback-to-db: record what people said about each prediction."""

from __future__ import annotations

from svmflow.contracts import Feedback
from svmflow.db.database import Database
from svmflow.db.stores.feedback import FeedbackStore
from svmflow.db.verdicts import corrected_label
from svmflow.messaging import EventContext

CONSUMER = "feedback_to_db"

__all__ = ["CONSUMER", "corrected_label", "handle"]


def handle(message: Feedback, context: EventContext, *, db: Database) -> None:
    """Keyed by (batch_id, subject): a newer rating of the same subject replaces an older one."""
    FeedbackStore(db).record_verdicts(message, CONSUMER, context.event_id)
