"""Live input drift per model version: consecutive windows of records, each assessed on closing.

A model version's live records are cut into windows of a fixed number of records in the order they
are counted; a window is assessed against the version's reference profile (``drift.assess``) when it
fills. Windows do not overlap, so the chance of a false alarm per window is the test's own ``alpha``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec
import numpy as np
from numpy.typing import NDArray

from svmflow.domain.drift import DriftReport, ReferenceProfile, reference_profile

Row = list[float]
# Below this many training rows a reference says too little (the profile needs two per PSI bin).
MIN_REFERENCE_ROWS = 20


class FeatureFigures(msgspec.Struct, kw_only=True):
    """One feature's figures for a closed window, as the API serves them."""

    name: str
    psi: float
    ks: float
    p_value: float | None  # the smaller of the KS and mean-shift p-values, doubled (Bonferroni)
    drifted: bool
    mean_shift_sd: float  # window mean minus reference mean, in reference standard deviations
    ks_p_value: float
    mean_p_value: float


class DriftView(msgspec.Struct, kw_only=True):
    """A model version's drift as the read model keeps it (``GET /v1/models/{version}/drift``).

    The figures are those of the latest closed window; ``records_in_window`` counts the records of the
    window still open. ``updated_at`` is when a record was last counted (null before the first)."""

    model_version: str
    window_size: int
    windows_closed: int
    records_in_window: int
    drifted: bool
    updated_at: datetime | None
    features: list[FeatureFigures]
    drifted_features: list[str] = []
    window_closed_at: datetime | None = None
    alpha: float | None = None
    # The training rows the reference profile was taken from; null while no window has closed.
    reference_rows: int | None = None
    revision: int = 0  # grows with every counted batch, so the newest projection wins in the read model


def empty_view(model_version: str, window_size: int) -> DriftView:
    """A known version before any of its records was counted."""
    return DriftView(
        model_version=model_version,
        window_size=window_size,
        windows_closed=0,
        records_in_window=0,
        drifted=False,
        updated_at=None,
        features=[],
    )


def cut(open_rows: Sequence[Row], new_rows: Sequence[Row], size: int) -> tuple[list[list[Row]], list[Row]]:
    """The windows that ``new_rows`` fill (oldest first) and the rows left in the open window."""
    if size < 2:
        raise ValueError("a window needs at least two records")
    rows = [*open_rows, *new_rows]
    full = len(rows) // size
    return [rows[i * size : (i + 1) * size] for i in range(full)], rows[full * size :]


def finite_rows(rows: Sequence[Row], width: int) -> list[Row]:
    """The rows a window can use: of the reference's width, every value a finite number."""
    return [list(r) for r in rows if len(r) == width and all(np.isfinite(r))]


def figures(report: DriftReport) -> list[FeatureFigures]:
    threshold = report.alpha / max(len(report.features), 1)
    return [
        FeatureFigures(
            name=f.name,
            psi=round(f.psi, 6),
            ks=round(f.ks, 6),
            p_value=f.p,
            drifted=f.p < threshold,
            mean_shift_sd=round(f.mean_shift_sd, 6),
            ks_p_value=f.ks_p,
            mean_p_value=f.mean_p,
        )
        for f in report.features
    ]


def reference_metadata(features: NDArray[np.float64], names: Sequence[str]) -> ReferenceProfile | None:
    """The reference profile of a model's training rows, for its artifact's metadata (None when there
    are too few rows to profile)."""
    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or data.shape[0] < MIN_REFERENCE_ROWS or data.shape[1] != len(names):
        return None
    return reference_profile(data, list(names))
