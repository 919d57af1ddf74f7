"""Classification metrics as typed values: the score the gate compares, its interval, recall per class."""

from __future__ import annotations

from typing import Literal, TypeGuard, get_args

import msgspec
import numpy as np
from numpy.typing import NDArray

MetricName = Literal["accuracy", "balanced_accuracy", "macro_f1"]
METRICS: tuple[str, ...] = get_args(MetricName)
BOOTSTRAP_RESAMPLES = 1000


def is_metric(name: str) -> TypeGuard[MetricName]:
    return name in METRICS


class ClassRecall(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    label: int
    recall: float | None  # None: the class has no row here
    rows: int


class Score(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One model's metric on one set of rows, with a 95% bootstrap interval."""

    metric: MetricName
    value: float
    low: float
    high: float
    rows: int
    recall: list[ClassRecall] = []
    # Beside the compared metric, whatever it is: plain and balanced accuracy on the same rows (unset
    # in records written before they were given).
    accuracy: float | None = None
    balanced_accuracy: float | None = None


Labels = NDArray[np.int64]


def classes_of(truth: Labels) -> tuple[int, ...]:
    """Classes 0 and 1 (a binary model's, listed even when absent) and every other class in ``truth``:
    the same list for any two models scored on the same rows."""
    return tuple(sorted({0, 1, *(int(c) for c in np.unique(truth))}))


def class_recall(
    truth: Labels, predicted: Labels, classes: tuple[int, ...] | None = None
) -> list[ClassRecall]:
    out = []
    classes = classes_of(truth) if classes is None else classes
    for label in classes:
        mask = truth == label
        rows = int(mask.sum())
        out.append(
            ClassRecall(
                label=label,
                recall=float(np.mean(predicted[mask] == label)) if rows else None,
                rows=rows,
            )
        )
    return out


def value(metric: MetricName, truth: Labels, predicted: Labels) -> float:
    """The metric; classes absent from ``truth`` are left out of the balanced and macro averages."""
    if len(truth) == 0:
        return 0.0
    if metric == "accuracy":
        return float(np.mean(truth == predicted))
    present = np.unique(truth)
    if metric == "balanced_accuracy":
        return float(np.mean([np.mean(predicted[truth == c] == c) for c in present]))
    f1s = []
    for c in present:
        tp = float(np.sum((predicted == c) & (truth == c)))
        fp = float(np.sum((predicted == c) & (truth != c)))
        fn = float(np.sum((predicted != c) & (truth == c)))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0)
    return float(np.mean(f1s))


def row_weights(metric: MetricName, truth: Labels) -> NDArray[np.float64]:
    """Weights that make a weighted mean of per-row correctness equal the metric (exactly for accuracy
    and balanced accuracy; macro-F1 is tested with the balanced weights, its nearest linear form)."""
    if len(truth) == 0:
        return np.empty(0)
    if metric == "accuracy":
        return np.full(len(truth), 1.0 / len(truth))
    classes, counts = np.unique(truth, return_counts=True)
    per_class = dict(zip(classes.tolist(), counts.tolist(), strict=True))
    return np.asarray([1.0 / (len(classes) * per_class[int(t)]) for t in truth])


def score(metric: MetricName, truth: Labels, predicted: Labels, seed: int = 0) -> Score:
    """The metric with a 95% percentile bootstrap interval (seeded, so a decision can be re-derived)."""
    n = len(truth)
    point = value(metric, truth, predicted)
    if n == 0:
        return Score(
            metric=metric, value=0.0, low=0.0, high=0.0, rows=0, recall=class_recall(truth, predicted)
        )
    samples = _resampled(metric, truth, predicted, np.random.default_rng(seed))
    low, high = np.quantile(samples, [0.025, 0.975])
    return Score(
        metric=metric,
        value=round(point, 6),
        low=round(float(low), 6),
        high=round(float(high), 6),
        rows=n,
        recall=class_recall(truth, predicted),
        accuracy=round(value("accuracy", truth, predicted), 6),
        balanced_accuracy=round(value("balanced_accuracy", truth, predicted), 6),
    )


def _resampled(
    metric: MetricName, truth: Labels, predicted: Labels, rng: np.random.Generator
) -> NDArray[np.float64]:
    """The metric on bootstrap resamples. For accuracy a resample's hit count is binomial, so it is
    drawn as one; balanced accuracy resamples each class on its own (a stratified bootstrap, which keeps
    every class in every resample); macro-F1 resamples rows."""
    right = truth == predicted
    n = len(truth)
    if metric == "accuracy":
        return rng.binomial(n, float(right.mean()), BOOTSTRAP_RESAMPLES) / n
    if metric == "balanced_accuracy":
        per_class = [
            rng.binomial(int(m.sum()), float(right[m].mean()), BOOTSTRAP_RESAMPLES) / m.sum()
            for m in (truth == c for c in np.unique(truth))
        ]
        means: NDArray[np.float64] = np.mean(np.vstack(per_class), axis=0)
        return means
    draws = rng.integers(0, n, size=(BOOTSTRAP_RESAMPLES, n))
    return np.asarray([value(metric, truth[i], predicted[i]) for i in draws])


def choose(setting: str, labels: Labels, imbalance_share: float) -> MetricName:
    """``auto``: balanced accuracy when the smaller class is under ``imbalance_share`` of the rows
    (plain accuracy would let a model that ignores the minority look good), else accuracy. With more
    than two classes, when the rarest is under ``imbalance_share * 2 / k``."""
    if setting != "auto":
        if not is_metric(setting):
            raise ValueError(f"unknown metric {setting!r}; expected auto or one of {METRICS}")
        return setting
    if len(labels) == 0:
        return "accuracy"
    # With k classes the rarest one is judged against its fair share, 1/k: for two classes this is
    # "under imbalance_share of the rows", for more the bar scales with the share it would have.
    counts = np.bincount(labels, minlength=2)
    rarest = float(counts.min()) / len(labels)
    return "balanced_accuracy" if rarest < imbalance_share * 2 / len(counts) else "accuracy"
