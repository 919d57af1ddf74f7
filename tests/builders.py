"""Messages and state snapshots for processor tests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from svmflow import contracts
from svmflow.contracts import Feedback, PredictionRequest
from svmflow.db.database import Database
from svmflow.db.tables import Base
from svmflow.domain.training import read_seed_csv

DATA = Path(__file__).resolve().parents[1] / "data" / "banknote.csv"
_ROWS = read_seed_csv(DATA)


def prediction_request(batch_id: str = "batch-1", rows: int = 5, offset: int = 0) -> PredictionRequest:
    chosen = _ROWS[offset : offset + rows]
    return PredictionRequest(
        batch_id=batch_id,
        subjects=[f"s{offset + i}" for i in range(len(chosen))],
        features=[list(r.features) for r in chosen],
        submitted_at=datetime.now(UTC),
    )


def true_labels(rows: int = 5, offset: int = 0) -> list[int]:
    return [r.label for r in _ROWS[offset : offset + rows]]


def feedback(batch_id: str, subjects: list[str], ratings: list[int]) -> Feedback:
    return Feedback(batch_id=batch_id, subjects=subjects, ratings=ratings, rated_at=datetime.now(UTC))  # type: ignore[arg-type]


def encoded(message: contracts.Contract) -> bytes:
    return contracts.encode(message)


def db_snapshot(db: Database, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted, for before/after comparisons."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = session.execute(select(table)).all()
            snapshot[table.name] = sorted(tuple(repr(v) for v in row) for row in rows)
    return snapshot


def redis_snapshot(client: Any) -> dict[bytes, Any]:
    """Every key and its value, whatever its type."""
    snapshot: dict[bytes, Any] = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        if kind == b"string":
            snapshot[key] = client.get(key)
        elif kind == b"hash":
            snapshot[key] = sorted(client.hgetall(key).items())
        elif kind == b"zset":
            snapshot[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            snapshot[key] = kind
    return snapshot
