"""Shadow scores in the database: recorded per batch, added up per shadow version."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import msgspec
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from svmflow.contracts import SHADOW_EXAMPLES, ShadowFlip, ShadowScores
from svmflow.db.database import Database
from svmflow.db.tables import ShadowScore


@dataclass(frozen=True)
class ShadowTotals:
    records: int
    flips: int
    examples: list[ShadowFlip]


def record(db: Database, session: Session, batch_id: str, scores: ShadowScores) -> None:
    """Once per batch and shadow version: a batch predicted twice (a redelivery) is counted once."""
    db.insert_ignore(
        session,
        ShadowScore,
        [
            {
                "batch_id": batch_id,
                "version": scores.version,
                "champion_version": scores.champion_version,
                "records": scores.records,
                "flips": scores.flips,
                "examples": {"flips": msgspec.to_builtins(scores.examples)},
                "scored_at": datetime.now(UTC),
            }
        ],
    )


def totals(session: Session, version: str) -> ShadowTotals:
    records, flips = session.execute(
        select(
            func.coalesce(func.sum(ShadowScore.records), 0), func.coalesce(func.sum(ShadowScore.flips), 0)
        ).where(ShadowScore.version == version)
    ).one()
    examples: list[ShadowFlip] = []
    for stored in session.scalars(
        select(ShadowScore.examples)
        .where(ShadowScore.version == version, ShadowScore.flips > 0)
        .order_by(ShadowScore.scored_at, ShadowScore.batch_id)
        .limit(SHADOW_EXAMPLES)
    ):
        examples.extend(msgspec.convert(stored["flips"], list[ShadowFlip]))
    return ShadowTotals(records=int(records), flips=int(flips), examples=examples[:SHADOW_EXAMPLES])
