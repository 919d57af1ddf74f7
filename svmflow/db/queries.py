"""Reads several handlers share."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from svmflow.db.database import as_utc
from svmflow.db.tables import ChampionTests, Prediction, PredictionBatch, RetrainState, TrainingRow
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


@dataclass(frozen=True)
class StoredRow:
    id: int
    row: LabelledRow
    holdout: bool
    status: str
    status_by: str | None
    labelled_at: datetime
    batch_id: str | None = None
    subject: str | None = None
    status_reason: str | None = None


def stored_rows(session: Session) -> list[StoredRow]:
    """Every training row with its hold-out flag and quarantine status, oldest label first."""
    rows = session.execute(
        select(
            TrainingRow.id,
            TrainingRow.source,
            TrainingRow.source_key,
            TrainingRow.features,
            TrainingRow.label,
            TrainingRow.holdout,
            TrainingRow.kind,
            TrainingRow.status,
            TrainingRow.status_by,
            TrainingRow.labelled_at,
            TrainingRow.batch_id,
            TrainingRow.subject,
            TrainingRow.status_reason,
        ).order_by(TrainingRow.labelled_at, TrainingRow.id)
    ).all()
    return [
        StoredRow(
            id=int(r.id),
            row=LabelledRow(r.source, r.source_key, tuple(r.features), int(r.label), r.kind or r.source),
            holdout=bool(r.holdout),
            status=r.status or "active",
            status_by=r.status_by,
            labelled_at=as_utc(r.labelled_at),
            batch_id=r.batch_id,
            subject=r.subject,
            status_reason=r.status_reason,
        )
        for r in rows
    ]


def feedback_row_count(session: Session) -> int:
    return int(session.scalar(select(func.count()).where(TrainingRow.source == FEEDBACK)) or 0)


def labels_total(session: Session) -> int:
    state = session.get(RetrainState, 1)
    return int(state.labels_total or 0) if state is not None else 0


def apply_rule_statuses(session: Session, reasons: dict[int, str | None]) -> None:
    """Quarantine the rows a rule caught (with its reason) and let back in those it no longer catches
    (reason None); rows an operator has ruled on keep the operator's word."""
    for row_id, reason in reasons.items():
        values = (
            {"status": "quarantined", "status_by": "rule", "status_reason": reason[:500]}
            if reason
            else {"status": "active", "status_by": None, "status_reason": None}
        )
        session.execute(
            update(TrainingRow)
            .where(TrainingRow.id == row_id, TrainingRow.status_by.is_distinct_from("operator"))
            .values(**values)
        )


def initial_retrain_state(now: datetime) -> dict[str, Any]:
    return {
        "id": 1,
        "labels_at_last_request": 0,
        "last_request_id": None,
        "updated_at": now,
        "labels_total": 0,
        "sample_rated": 0,
        "sample_wrong": 0,
    }


def set_retrain_targets(session: Session, needed: int | None, reference_error: float) -> None:
    """What the next trigger waits for: new labels, or ratings that show the serving model drifted."""
    session.execute(
        update(RetrainState)
        .where(RetrainState.id == 1)
        .values(labels_needed=needed, reference_error=reference_error)
    )


def count_test(session: Session, db_insert: Any, champion: str, now: datetime) -> int:
    """Count one more test against ``champion`` and return its number (from 1)."""
    session.connection().execute(
        db_insert(ChampionTests).on_conflict_do_nothing(),
        {"version": champion, "tests": 0, "updated_at": now},
    )
    session.execute(
        update(ChampionTests)
        .where(ChampionTests.version == champion)
        .values(tests=ChampionTests.tests + 1, updated_at=now)
    )
    return int(session.scalar(select(ChampionTests.tests).where(ChampionTests.version == champion)) or 1)


def tests_so_far(session: Session, champion: str) -> int:
    return int(session.scalar(select(ChampionTests.tests).where(ChampionTests.version == champion)) or 0)
