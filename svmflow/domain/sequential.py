"""Watching a newly promoted model: is its live accuracy significantly below its predecessor's?

The method is a one-sided mixture sequential probability ratio test (Wald's SPRT, 1945, with the
nuisance parameter integrated out as in Robbins' mixture SPRT, 1970). Its hypotheses are

    H0: the new model is as accurate as its predecessor, p_new = p_old
    H1: it is worse by the drop worth acting on,         p_new = p_old - drop

where p_old is not known but estimated from the predecessor's own rated predictions: both likelihoods
are averaged over its posterior Beta(right + 1, wrong + 1). The statistic after n ratings of the new
model, s of them right,

    Lambda_n = E[(p - drop)^s (1 - p + drop)^(n - s)] / E[p^s (1 - p)^(n - s)],  p ~ Beta(...)

is a non-negative martingale with mean 1 under H0, so by Ville's inequality the chance that it ever
reaches 1/alpha is at most alpha, however often it is looked at (after every label, after every
feedback batch, or at any stopping time in between). That is why it is chosen over a fixed-sample
test re-run after each label (whose false alarms add up with every look) and over a group-sequential
boundary (which needs the looks planned in advance; feedback arrives in batches of any size). Averaging
over the predecessor's posterior instead of plugging in its point estimate keeps a predecessor that
was lucky on few labels from making its successor look bad: with few labels behind p_old the test
simply needs more evidence.

What it can achieve is bounded by the information in the labels. With p_old = 0.90 known exactly and a
drop to 0.85, the most powerful test of any kind on 350 labels with at most 1% false alarms (the
Neyman-Pearson test, "at most 300 right") detects the drop with probability 0.67; 95% needs about 700
labels (exact binomial). A sequential test cannot beat that bound at a fixed horizon; what it buys is
stopping early when the drop is larger, and no inflation of false alarms from looking often.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

GRID_POINTS = 256  # midpoints on which the predecessor's posterior is integrated
TINY = 1e-12  # keeps log(0) out when p - drop falls at or below 0

WatchVerdict = Literal["drop", "watching", "confirmed"]


@dataclass(frozen=True)
class WatchPolicy:
    drop: float = 0.05  # the fall in accuracy worth rolling back for
    alpha: float = 0.01  # the chance of rolling back a model that is as good as its predecessor
    max_labels: int = 1000  # the watch ends after this many rated predictions of the new model


@dataclass(frozen=True)
class WatchResult:
    verdict: WatchVerdict
    log_ratio: float  # log Lambda_n
    threshold: float  # log(1 / alpha)
    labels: int
    accuracy: float | None
    predecessor_accuracy: float | None
    predecessor_labels: int

    def sentence(self, version: str, predecessor: str, policy: WatchPolicy) -> str:
        new = "n/a" if self.accuracy is None else f"{self.accuracy:.3f}"
        old = "n/a" if self.predecessor_accuracy is None else f"{self.predecessor_accuracy:.3f}"
        return (
            f"automatic rollback: live accuracy of {version} is {new} on {self.labels} rated predictions, "
            f"significantly below {predecessor}'s {old} on {self.predecessor_labels} "
            f"(sequential test for a drop of {policy.drop:.2f}: log likelihood ratio "
            f"{self.log_ratio:.2f} >= {self.threshold:.2f}, false-rollback rate <= {policy.alpha:g})"
        )


def _posterior_log_weights(right: int, wrong: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A grid of p_old and the log of each point's posterior weight (normalised). The grid spans the
    posterior's mean +/- 12 standard deviations: beyond that its mass is negligible, even after the new
    model's likelihood tilts it, and a narrow grid keeps many labels behind p_old resolved."""
    a, b = right + 1.0, wrong + 1.0
    mean = a / (a + b)
    sd = float(np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1))))
    low, high = max(TINY, mean - 12 * sd), min(1 - TINY, mean + 12 * sd)
    grid = low + (np.arange(GRID_POINTS, dtype=np.float64) + 0.5) * (high - low) / GRID_POINTS
    log_w = right * np.log(grid) + wrong * np.log1p(-grid)
    return grid, log_w - _log_sum_exp(log_w)


def log_ratio(
    right: NDArray[np.int64] | int,
    wrong: NDArray[np.int64] | int,
    predecessor_right: int,
    predecessor_wrong: int,
    drop: float,
) -> NDArray[np.float64]:
    """log Lambda for the new model's counts (broadcast over arrays of them)."""
    grid, log_w = _posterior_log_weights(predecessor_right, predecessor_wrong)
    worse = np.clip(grid - drop, TINY, 1.0)
    s = np.asarray(right, dtype=np.float64)[..., None]
    f = np.asarray(wrong, dtype=np.float64)[..., None]
    under_h1 = _log_sum_exp(log_w + s * np.log(worse) + f * np.log1p(-worse))
    under_h0 = _log_sum_exp(log_w + s * np.log(grid) + f * np.log1p(-grid))
    return np.asarray(under_h1 - under_h0, dtype=np.float64)


def _log_sum_exp(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Over the last axis; scipy's general version costs several times more on these small rows."""
    top = values.max(axis=-1, keepdims=True)
    total: NDArray[np.float64] = np.log(np.exp(values - top).sum(axis=-1)) + top[..., 0]
    return total


def failure_boundary(
    predecessor_right: int, predecessor_wrong: int, policy: WatchPolicy
) -> NDArray[np.float64]:
    """For n = 1..max_labels, the fewest wrong predictions among the first n that trigger a rollback
    (inf where none can). The ratio grows with the wrong count, so one number per n describes the test;
    a simulation then needs only cumulative sums."""
    n = np.arange(1, policy.max_labels + 1)
    threshold = np.log(1.0 / policy.alpha)
    boundary = np.full(policy.max_labels, np.inf)
    # Bisection on the wrong count, for every n at once.
    # No wrong answer at all never reaches it: under H1 every right answer is less likely than under H0.
    low = np.zeros(policy.max_labels, dtype=np.int64)
    high = n.copy()  # the most wrong answers possible
    reaches = log_ratio(n - high, high, predecessor_right, predecessor_wrong, policy.drop) >= threshold
    while np.any(high - low > 1):
        mid = (low + high) // 2
        hit = log_ratio(n - mid, mid, predecessor_right, predecessor_wrong, policy.drop) >= threshold
        high = np.where(hit, mid, high)
        low = np.where(hit, low, mid)
    boundary[reaches] = high[reaches]
    return boundary


def watch(
    right: int, wrong: int, predecessor_right: int, predecessor_wrong: int, policy: WatchPolicy
) -> WatchResult:
    """The test at the new model's current counts. Looking only when feedback arrives (not after
    each label of a batch) is a stopping time like any other: the false-rollback bound still holds."""
    labels = right + wrong
    threshold = float(np.log(1.0 / policy.alpha))
    value = float(log_ratio(right, wrong, predecessor_right, predecessor_wrong, policy.drop))
    verdict: WatchVerdict = "watching"
    if value >= threshold:
        verdict = "drop"
    elif labels >= policy.max_labels:
        verdict = "confirmed"
    predecessor_labels = predecessor_right + predecessor_wrong
    return WatchResult(
        verdict=verdict,
        log_ratio=value,
        threshold=threshold,
        labels=labels,
        accuracy=right / labels if labels else None,
        predecessor_accuracy=predecessor_right / predecessor_labels if predecessor_labels else None,
        predecessor_labels=predecessor_labels,
    )
