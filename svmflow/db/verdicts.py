"""Feedback verdicts: what people said about each prediction, keyed by (batch id, subject)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from svmflow.contracts import Feedback
from svmflow.db.database import Database
from svmflow.db.queries import predictions_for
from svmflow.db.tables import FeedbackVerdict


def corrected_label(predicted: int, rating: int) -> int:
    """Binary labels: a prediction rated wrong has the other label."""
    return predicted if rating == 1 else 1 - predicted


def record_verdicts(db: Database, session: Session, message: Feedback) -> str:
    """Upsert the message's verdicts (a newer rating of a subject replaces an older one; the same
    rating again changes nothing, whoever writes it) and return the model version they rate."""
    batch, predictions = predictions_for(session, message.batch_id, message.subjects)
    rows = [
        {
            "batch_id": message.batch_id,
            "subject": subject,
            "rating": rating,
            "predicted_label": predictions[subject].label,
            "corrected_label": corrected_label(predictions[subject].label, rating),
            "model_version": batch.model_version,
            "rated_at": message.rated_at,
        }
        for subject, rating in zip(message.subjects, message.ratings, strict=True)
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
