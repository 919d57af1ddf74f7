"""Input drift: a reference profile of the training data and a test of a window of live records.

The profile, stored with the model artifact's metadata, keeps per feature the training rows' mean and
standard deviation, 201 quantiles (the CDF the Kolmogorov-Smirnov statistic is measured against) and
ten equal-mass bins (for the population stability index, PSI, which people know how to read).

A window is flagged when any feature fails either of two tests against the reference: a z test of
its mean (the most powerful test for a shift) and a one-sample KS test (which also sees a change of
spread or shape). Both use the two-sample effective size n·N/(n+N), since the reference is itself a
sample of N rows. Bonferroni over features and the two tests keeps the chance of a false alarm in a
window without drift under ``alpha``. PSI is reported but decides nothing: at the usual 0.1 threshold
it misses small shifts that matter (see tests/unit/test_drift.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec
import numpy as np
from numpy.typing import NDArray

QUANTILE_LEVELS = np.linspace(0.0, 1.0, 201)
PSI_BINS = 10
DEFAULT_ALPHA = 0.0001  # per window; tuned by simulation: skewed features make the tests a little liberal
PSI_FLOOR = 1e-4  # an empty bin counts as this proportion, so PSI stays finite


class FeatureReference(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    mean: float
    std: float
    quantiles: list[float]  # at QUANTILE_LEVELS
    bin_edges: list[float]  # PSI_BINS - 1 inner edges
    bin_shares: list[float]  # the reference's share in each of the PSI_BINS bins


class ReferenceProfile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    rows: int
    features: list[FeatureReference]


class FeatureDrift(msgspec.Struct, kw_only=True):
    name: str
    psi: float
    ks: float
    ks_p: float
    mean_shift_sd: float  # the window's mean minus the reference's, in reference standard deviations
    mean_p: float
    p: float  # the smaller of the two p-values, doubled (Bonferroni over the two tests)


class DriftReport(msgspec.Struct, kw_only=True):
    rows: int
    alpha: float
    drifted: bool
    drifted_features: list[str]
    features: list[FeatureDrift]


def reference_profile(features: NDArray[np.float64], names: Sequence[str]) -> ReferenceProfile:
    data = np.asarray(features, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != len(names) or data.shape[0] < PSI_BINS * 2:
        raise ValueError("a reference profile needs a matrix of at least 20 rows, one column per name")
    profiled = []
    for column, name in zip(data.T, names, strict=True):
        quantiles = np.quantile(column, QUANTILE_LEVELS)
        edges = np.quantile(column, np.linspace(0, 1, PSI_BINS + 1)[1:-1])
        shares = np.bincount(np.searchsorted(edges, column, side="right"), minlength=PSI_BINS) / len(column)
        profiled.append(
            FeatureReference(
                name=name,
                mean=float(column.mean()),
                std=float(column.std(ddof=1)),
                quantiles=quantiles.tolist(),
                bin_edges=edges.tolist(),
                bin_shares=shares.tolist(),
            )
        )
    return ReferenceProfile(rows=int(data.shape[0]), features=profiled)


def reference_cdf(reference: FeatureReference, values: NDArray[np.float64]) -> NDArray[np.float64]:
    """The reference CDF, linear between its quantiles, 0 below the smallest and 1 above the largest."""
    return np.interp(values, reference.quantiles, QUANTILE_LEVELS, left=0.0, right=1.0)


def ks_statistic(reference: FeatureReference, window: NDArray[np.float64]) -> NDArray[np.float64]:
    """One-sample KS distance of each window (rows of ``window``) to the reference CDF."""
    ordered = np.sort(window, axis=-1)
    n = ordered.shape[-1]
    cdf = reference_cdf(reference, ordered.ravel()).reshape(ordered.shape)
    steps = np.arange(1, n + 1) / n
    above = (steps - cdf).max(axis=-1)
    below = (cdf - (steps - 1 / n)).max(axis=-1)
    distances: NDArray[np.float64] = np.maximum(above, below)
    return distances


def psi(reference: FeatureReference, window: NDArray[np.float64]) -> NDArray[np.float64]:
    edges = np.asarray(reference.bin_edges)
    expected = np.maximum(np.asarray(reference.bin_shares), PSI_FLOOR)
    bins = np.searchsorted(edges, window, side="right")
    counts = np.stack([(bins == b).sum(axis=-1) for b in range(PSI_BINS)], axis=-1)
    actual = np.maximum(counts / window.shape[-1], PSI_FLOOR)
    psi: NDArray[np.float64] = ((actual - expected) * np.log(actual / expected)).sum(axis=-1)
    return psi


def feature_tests(
    reference: FeatureReference, window: NDArray[np.float64], reference_rows: int
) -> tuple[NDArray[np.float64], ...]:
    """(psi, ks, ks p, mean shift in sd, mean p) for each window along the last axis."""
    # scipy.stats takes about a second to import: loaded on first use, not on every cold start.
    from scipy import stats

    n = window.shape[-1]
    effective = n * reference_rows / (n + reference_rows)
    ks = ks_statistic(reference, window)
    # Kolmogorov's limit with Stephens' small-sample correction: accurate from n of about 35 and,
    # unlike the exact distribution, cheap enough to run on every window.
    root = math.sqrt(effective)
    ks_p = stats.kstwobign.sf((root + 0.12 + 0.11 / root) * ks)
    std = reference.std if reference.std > 0 else 1.0
    shift = (window.mean(axis=-1) - reference.mean) / std
    z = shift * math.sqrt(effective)
    mean_p = 2 * stats.norm.sf(np.abs(z))
    return psi(reference, window), ks, ks_p, shift, mean_p


def assess(
    profile: ReferenceProfile, window: NDArray[np.float64], alpha: float = DEFAULT_ALPHA
) -> DriftReport:
    data = np.asarray(window, dtype=np.float64)
    if data.ndim != 2 or data.shape[1] != len(profile.features) or data.shape[0] < 2:
        raise ValueError(f"a window is a matrix of rows with {len(profile.features)} features")
    threshold = alpha / len(profile.features)
    results = []
    for reference, column in zip(profile.features, data.T, strict=True):
        value_psi, ks, ks_p, shift, mean_p = (
            float(v) for v in feature_tests(reference, column, profile.rows)
        )
        results.append(
            FeatureDrift(
                name=reference.name,
                psi=value_psi,
                ks=ks,
                ks_p=ks_p,
                mean_shift_sd=shift,
                mean_p=mean_p,
                p=min(1.0, 2 * min(ks_p, mean_p)),
            )
        )
    drifted = [r.name for r in results if r.p < threshold]
    return DriftReport(
        rows=int(data.shape[0]),
        alpha=alpha,
        drifted=bool(drifted),
        drifted_features=drifted,
        features=results,
    )


def window_alarms(
    profile: ReferenceProfile, windows: NDArray[np.float64], alpha: float = DEFAULT_ALPHA
) -> NDArray[np.bool_]:
    """``assess`` for many windows at once (shape windows x rows x features): which would alarm."""
    threshold = alpha / len(profile.features)
    alarms = np.zeros(windows.shape[0], dtype=bool)
    for index, reference in enumerate(profile.features):
        _, _, ks_p, _, mean_p = feature_tests(reference, windows[:, :, index], profile.rows)
        alarms |= 2 * np.minimum(ks_p, mean_p) < threshold
    return alarms
