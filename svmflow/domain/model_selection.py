"""Choosing C by cross-validation, and scoring a challenger on rows it also trains on (cross-fitting)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from svmflow.domain import metrics
from svmflow.domain.fitting import ClassWeight, TrainingDataError
from svmflow.domain.metrics import MetricName
from svmflow.domain.training import (
    LabelledRow,
    fit,
    fold_of,
    predict_rows,
    to_arrays,
)

DEFAULT_C_GRID = (0.01, 0.1, 1.0, 10.0)


@dataclass(frozen=True)
class CvResult:
    c: float
    grid: tuple[float, ...]
    scores: tuple[float, ...]  # mean metric over the folds, per C
    errors: int  # misclassified rows, out of fold, at the chosen C
    rows: int


def choose_c(
    rows: Sequence[LabelledRow],
    *,
    grid: Sequence[float],
    metric: MetricName,
    folds: int = 5,
    feedback_weight: float = 1.0,
    class_weight: ClassWeight = "none",
) -> CvResult:
    """K-fold cross-validation over ``grid``; the best mean metric wins, the smaller C on a tie (the
    simpler model). Folds are by a hash of the features, so duplicates never straddle two folds."""
    assignment = np.asarray([fold_of(r, folds) for r in rows])
    _, y = to_arrays(rows)
    # The folds do not depend on C: split the rows once, not once per C.
    splits = []
    for k in range(folds):
        test = assignment == k
        if test.any():
            train = [r for r, t in zip(rows, test, strict=True) if not t]
            held = [r for r, t in zip(rows, test, strict=True) if t]
            splits.append((test, train, held))
    best: tuple[float, float, int] | None = None
    scores = []
    for c in grid:
        predicted = np.full(len(rows), -1, dtype=np.int64)
        fold_scores = []
        for test, train, held in splits:
            try:
                model = fit(train, feedback_weight, c, class_weight)
            except TrainingDataError:
                continue  # a fold with one class left cannot be fitted; the others still count
            predicted[test] = predict_rows(model, held)
            fold_scores.append(metrics.value(metric, y[test], predicted[test]))
        mean = float(np.mean(fold_scores)) if fold_scores else 0.0
        scores.append(round(mean, 6))
        errors = int(np.sum((predicted != y) & (predicted >= 0)))
        if best is None or mean > best[1] + 1e-12:
            best = (c, mean, errors)
    assert best is not None
    return CvResult(c=best[0], grid=tuple(grid), scores=tuple(scores), errors=best[2], rows=len(rows))


def cross_fitted(
    train: Sequence[LabelledRow],
    window: Sequence[LabelledRow],
    *,
    c: float,
    folds: int = 5,
    feedback_weight: float = 1.0,
    class_weight: ClassWeight = "none",
) -> NDArray[np.int64]:
    """Predictions for ``window`` rows by fits that did not see them.

    The challenger trains on all feedback, the window included; scoring it there in-sample would flatter
    it. Each fold of the window is predicted by a fit on the training rows minus that fold, which is how
    the challenger's training procedure does on rows it has not seen.
    """
    window_folds = np.asarray([fold_of(r, folds) for r in window])
    held_keys = [{r.key for r, f in zip(window, window_folds, strict=True) if f == k} for k in range(folds)]
    out = np.full(len(window), -1, dtype=np.int64)
    for k in range(folds):
        mask = window_folds == k
        if not mask.any():
            continue
        rest = [r for r in train if not (r.source != "seed" and r.key in held_keys[k])]
        model = fit(rest, feedback_weight, c, class_weight)
        out[mask] = predict_rows(model, [r for r, m in zip(window, mask, strict=True) if m])
    return out
