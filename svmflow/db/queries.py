"""Reads several handlers share."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from svmflow.db.tables import Prediction, PredictionBatch, TrainingRow
from svmflow.domain.training import FEEDBACK, LabelledRow
from svmflow.errors import PermanentError, TransientError


def predictions_for(
    session: Session, batch_id: str, subjects: Sequence[str]
) -> tuple[PredictionBatch, dict[str, Prediction]]:
    """The stored predictions of these subjects.

    A batch not stored yet is transient (feedback can overtake prediction-to-db); a subject the batch
    does not have is permanent (the predict API refuses those, so the message is not from it).
    """
    batch = session.get(PredictionBatch, batch_id)
    if batch is None:
        raise TransientError(f"batch {batch_id} is not stored yet")
    rows = session.scalars(
        select(Prediction).where(Prediction.batch_id == batch_id, Prediction.subject.in_(subjects))
    ).all()
    found = {row.subject: row for row in rows}
    missing = [s for s in subjects if s not in found]
    if missing:
        raise PermanentError(f"batch {batch_id} has no subjects {missing[:5]}")
    return batch, found


def feedback_row_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(TrainingRow.source == FEEDBACK)) or 0)


def labelled_rows(session: Session) -> tuple[list[LabelledRow], list[bool]]:
    """Every training row, with its hold-out flag."""
    rows = session.execute(
        select(
            TrainingRow.source,
            TrainingRow.source_key,
            TrainingRow.features,
            TrainingRow.label,
            TrainingRow.holdout,
        ).order_by(TrainingRow.id)
    ).all()
    return (
        [LabelledRow(r.source, r.source_key, tuple(r.features), int(r.label)) for r in rows],
        [bool(r.holdout) for r in rows],
    )
