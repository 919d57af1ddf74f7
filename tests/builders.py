"""Messages and state snapshots for processor tests."""

from __future__ import annotations

import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from svmflow import contracts
from svmflow.contracts import ArtifactMetrics, Feedback, PredictionRequest
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


def promote_by_hand(container: Any, c: float, inverted: bool = False) -> str:
    """Fit a model on the seed data with ``c`` and point production at it through the registry, as a
    deploy would: for tests of serving and rollback, which need a second version whatever the gate says.
    ``inverted``: trained on every label flipped, a model that is wrong nearly always."""
    import dataclasses

    from svmflow.domain.linear_model import sha256_hex
    from svmflow.domain.training import fit
    from svmflow.model_registry import ArtifactMetadata, library_versions, new_version

    registry = container.registry
    rows = [dataclasses.replace(r, label=1 - r.label) for r in _ROWS] if inverted else _ROWS
    model = fit(rows, c=c)
    artifact = model.to_bytes()
    job_id = f"by-hand-{c}-{datetime.now(UTC):%H%M%S%f}"
    version = new_version(artifact, job_id)
    registry.save(
        model,
        ArtifactMetadata(
            version=version,
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            job_id=job_id,
            data_fingerprint="-",
            train_size=len(_ROWS),
            feedback_rows=0,
            metrics=ArtifactMetrics(),
            library_versions=library_versions(),
        ),
    )
    _, generation = registry.pointer()
    registry.promote(version, generation, reason="promoted by hand")
    return version


SHIFT = (2.0, 0.0, 0.0, 4.0)  # the recalibrated scanner of the evaluation's drift scenarios


def add_drifted_feedback(container: Any, rows: int = 200) -> None:
    """Rated rows from a drifted world (features shifted, labels true), as unbiased feedback: enough for
    the gate to find the seed-trained champion worse and a retrained challenger significantly better."""
    from svmflow.db.tables import TrainingRow
    from svmflow.domain.training import row_hash

    now = datetime.now(UTC)
    records = []
    step = max(1, len(_ROWS) // rows)  # the data set is sorted by class: take both
    for i, row in enumerate(_ROWS[::step][:rows]):
        features = [x + s for x, s in zip(row.features, SHIFT, strict=True)]
        digest = row_hash(features)
        records.append(
            {
                "source": "feedback",
                "source_key": digest,
                "features": features,
                "label": row.label,
                "row_hash": digest,
                "holdout": False,
                "labelled_at": now,
                "created_at": now,
                "kind": "sample",
                "batch_id": "drifted",
                "subject": f"s{i}",
            }
        )
    with container.db.transaction() as session:
        container.db.insert_ignore(session, TrainingRow, records)


def dead_holder() -> str:
    """The holder string of a process on this host that has exited, as a run killed with -9 leaves."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}:0badc0de"
