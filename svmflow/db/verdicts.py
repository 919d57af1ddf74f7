"""Feedback verdicts: what people said about each prediction, keyed by (batch id, subject)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from svmflow.contracts import Feedback
from svmflow.db.database import Database
from svmflow.db.queries import predictions_for
from svmflow.db.tables import FeedbackVerdict

# A verdict's true label when a multi-class prediction was rated wrong without the right class: it
# counts against live accuracy, and for no class's recall.
UNKNOWN_LABEL = -1


def corrected_label(predicted: int, rating: int) -> int:
    """Binary labels: a prediction rated wrong has the other label."""
    return predicted if rating == 1 else 1 - predicted


def record_verdicts(db: Database, session: Session, message: Feedback) -> str:
    """Upsert the message's verdicts (a newer rating of a subject replaces an older one; the same
    rating again changes nothing, whoever writes it) and return the model version they rate."""
    batch, predictions = predictions_for(session, message.batch_id, message.subjects)
    predicted = [predictions[subject].label for subject in message.subjects]
    rows = [
        {
            "batch_id": message.batch_id,
            "subject": subject,
            "rating": rating,
            "predicted_label": label,
            "corrected_label": UNKNOWN_LABEL if truth is None else truth,
            "model_version": batch.model_version,
            "rated_at": message.rated_at,
        }
        for subject, rating, label, truth in zip(
            message.subjects, message.ratings, predicted, message.true_labels(predicted), strict=True
        )
    ]
    statement = db.insert(FeedbackVerdict)
    session.connection().execute(
        statement.on_conflict_do_update(
            index_elements=["batch_id", "subject"],
            set_={
                "rating": statement.excluded.rating,
                "corrected_label": statement.excluded.corrected_label,
                "rated_at": statement.excluded.rated_at,
            },
            where=FeedbackVerdict.rated_at < statement.excluded.rated_at,
        ),
        rows,
    )
    return batch.model_version
