"""Input drift in the database: each model version's open window, closed windows, counted batches."""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.orm import Session

from svmflow.db.database import Database, as_utc
from svmflow.db.tables import DriftBatch, DriftState, DriftWindow
from svmflow.domain.drift_windows import DriftView, FeatureFigures, Row


def claim_batch(db: Database, session: Session, model_version: str, batch_id: str, now: datetime) -> bool:
    """True the first time this version's predictions of this batch are counted; False on any
    redelivery or republication. Written in the caller's transaction, so it commits with the counts."""
    row = {"model_version": model_version, "batch_id": batch_id, "counted_at": now}
    return db.insert_one_ignore(session, DriftBatch, row)


def locked_state(
    db: Database, session: Session, model_version: str, window_size: int, now: datetime
) -> DriftState:
    """The version's state, created if new and locked until commit (in Postgres: two deliveries for
    one version count their rows one after the other, never into the same copy of the open window)."""
    db.insert_ignore(
        session,
        DriftState,
        [
            {
                "model_version": model_version,
                "window_size": window_size,
                "windows_closed": 0,
                "open_rows": [],
                "revision": 0,
                "updated_at": now,
            }
        ],
    )
    state = session.scalar(
        select(DriftState).where(DriftState.model_version == model_version).with_for_update()
    )
    assert state is not None
    return state


def close_window(
    session: Session,
    state: DriftState,
    *,
    rows: int,
    alpha: float,
    drifted_features: list[str],
    features: list[FeatureFigures],
    reference_rows: int,
    now: datetime,
) -> int:
    """Record a closed window's figures; returns its number (1 for the version's first)."""
    state.windows_closed += 1
    session.add(
        DriftWindow(
            model_version=state.model_version,
            window=state.windows_closed,
            rows=rows,
            alpha=alpha,
            drifted=bool(drifted_features),
            drifted_features=drifted_features,
            features=[msgspec.to_builtins(f) for f in features],
            reference_rows=reference_rows,
            closed_at=now,
        )
    )
    return state.windows_closed


def keep_open(state: DriftState, open_rows: list[Row], now: datetime) -> None:
    state.open_rows = open_rows
    state.revision += 1
    state.updated_at = now


def load(session: Session, model_version: str) -> DriftView | None:
    """The version's view as the read model serves it, or None if none of its records was counted."""
    state = session.get(DriftState, model_version)
    if state is None:
        return None
    latest = session.scalar(
        select(DriftWindow)
        .where(DriftWindow.model_version == model_version)
        .order_by(DriftWindow.window.desc())
        .limit(1)
    )
    view = DriftView(
        model_version=model_version,
        window_size=state.window_size,
        windows_closed=state.windows_closed,
        records_in_window=len(state.open_rows),
        drifted=False,
        updated_at=as_utc(state.updated_at),
        features=[],
        revision=state.revision,
    )
    if latest is None:
        return view
    return msgspec.structs.replace(
        view,
        drifted=latest.drifted,
        features=msgspec.convert(latest.features, list[FeatureFigures]),
        drifted_features=list(latest.drifted_features),
        window_closed_at=as_utc(latest.closed_at),
        alpha=latest.alpha,
        reference_rows=latest.reference_rows,
    )


def monitored_versions(session: Session) -> list[str]:
    return list(session.scalars(select(DriftState.model_version)).all())
