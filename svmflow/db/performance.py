"""Live performance aggregates in the database: recomputed per model version from the verdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from svmflow.db.database import Database
from svmflow.db.tables import FeedbackVerdict, PerformanceCount, PerformanceRevision, PredictionBatch
from svmflow.domain.performance import VersionPerformance, version_performance


def _prediction_day(db: Database) -> Any:
    """The UTC day a batch was predicted, as YYYY-MM-DD, in the database's own dialect."""
    if db.dialect == "postgresql":
        return func.to_char(func.timezone("UTC", PredictionBatch.predicted_at), "YYYY-MM-DD")
    return func.strftime("%Y-%m-%d", PredictionBatch.predicted_at)  # SQLite keeps UTC, zone-less


def recompute(db: Database, session: Session, model_version: str) -> int:
    """Replace the version's counts with a fresh GROUP BY over its verdicts; returns the new revision.

    The revision row is upserted first: in Postgres that locks it until commit, so a concurrent
    recomputation of the same version waits, and its GROUP BY (a new statement, a new snapshot under
    READ COMMITTED) then sees this transaction's verdicts as well as its own."""
    now = datetime.now(UTC)
    statement = db.insert(PerformanceRevision)
    session.connection().execute(
        statement.on_conflict_do_update(
            index_elements=["model_version"],
            set_={"revision": PerformanceRevision.revision + 1, "updated_at": statement.excluded.updated_at},
        ),
        {"model_version": model_version, "revision": 1, "updated_at": now},
    )
    day = _prediction_day(db).label("day")
    grouped = session.execute(
        select(day, FeedbackVerdict.corrected_label, FeedbackVerdict.predicted_label, func.count())
        .join(PredictionBatch, PredictionBatch.batch_id == FeedbackVerdict.batch_id)
        .where(FeedbackVerdict.model_version == model_version)
        .group_by(day, FeedbackVerdict.corrected_label, FeedbackVerdict.predicted_label)
    ).all()
    session.execute(delete(PerformanceCount).where(PerformanceCount.model_version == model_version))
    rows = [
        {"model_version": model_version, "day": d, "true_label": t, "predicted_label": p, "count": c}
        for d, t, p, c in grouped
    ]
    if rows:
        session.connection().execute(db.insert(PerformanceCount), rows)
    return int(
        session.scalar(
            select(PerformanceRevision.revision).where(PerformanceRevision.model_version == model_version)
        )
        or 0
    )


def load(session: Session, model_version: str) -> VersionPerformance | None:
    """The stored figures of a version, or None if none of its predictions was ever rated."""
    revision = session.scalar(
        select(PerformanceRevision.revision).where(PerformanceRevision.model_version == model_version)
    )
    if revision is None:
        return None
    counts = session.execute(
        select(
            PerformanceCount.day,
            PerformanceCount.true_label,
            PerformanceCount.predicted_label,
            PerformanceCount.count,
        ).where(PerformanceCount.model_version == model_version)
    ).all()
    return version_performance(
        model_version, int(revision), [(row[0], row[1], row[2], row[3]) for row in counts]
    )


def rated_versions(session: Session) -> list[str]:
    return list(session.scalars(select(PerformanceRevision.model_version)).all())
