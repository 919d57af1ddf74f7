"""The quarantine rule, the drift signal and the derived retraining threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from svmflow.domain import stats
from svmflow.domain.drift_signal import binomial_tail, drifted
from svmflow.domain.quarantine import RobustRange

REFERENCE = np.random.default_rng(0).normal(0, 1, size=(500, 4))


def test_rows_inside_the_robust_range_pass() -> None:
    bounds = RobustRange.of(REFERENCE, k=3.0)
    assert bounds.reason([0.0, 1.0, -1.5, 2.0]) is None
    assert bounds.reason([4.0, 0.0, 0.0, 0.0]) is None  # a shift of several sigma is drift, not junk


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ([1e100, 0.0, 0.0, 0.0], "variance = 1e+100 is outside the robust range"),
        ([0.0, 0.0, 0.0, -50.0], "entropy = -50 is outside"),
        ([math.nan, 0.0, 0.0, 0.0], "variance is not finite"),
        ([0.0, math.inf, 0.0, 0.0], "skewness is not finite"),
        ([0.0, 0.0, 0.0], "has 3 features, the model takes 4"),
    ],
)
def test_outliers_are_caught_with_a_reason(row: list[float], words: str) -> None:
    reason = RobustRange.of(REFERENCE, k=3.0).reason(row)
    assert reason is not None
    assert words in reason


def test_one_outlier_in_the_reference_does_not_move_the_range() -> None:
    polluted = np.vstack([REFERENCE, [[1e100, 1e100, 1e100, 1e100]]])
    clean, dirty = RobustRange.of(REFERENCE, 3.0), RobustRange.of(polluted, 3.0)
    assert np.allclose(clean.high, dirty.high, rtol=0.05)


def test_binomial_tail_matches_scipy() -> None:
    for k, n, p in [(0, 10, 0.1), (3, 10, 0.1), (25, 50, 0.02), (50, 50, 0.5)]:
        assert binomial_tail(k, n, p) == pytest.approx(float(scipy_stats.binom.sf(k - 1, n, p)), rel=1e-9)


def test_the_drift_signal_needs_many_more_wrong_ratings_than_expected() -> None:
    assert not drifted(wrong=2, rated=50, reference_error=0.02)  # what a 2% model does
    assert drifted(wrong=13, rated=50, reference_error=0.02)  # a 26% error rate
    assert not drifted(wrong=13, rated=15, reference_error=0.02)  # too few ratings to say
    assert not drifted(wrong=40, rated=50, reference_error=None)  # no reference yet


def test_labels_needed_follow_the_alpha_and_the_disagreement() -> None:
    first = stats.labels_needed(stats.spent_alpha(0.05, 1) / 2, 0.2, 20, 300)
    later = stats.labels_needed(stats.spent_alpha(0.05, 5) / 2, 0.2, 20, 300)
    quiet = stats.labels_needed(stats.spent_alpha(0.05, 1) / 2, 0.01, 20, 300)
    assert first < later  # a later test needs more evidence
    assert quiet == 300  # models that rarely disagree: the ceiling
    assert stats.labels_needed(0.5, 1.0, 20, 300) == 20  # the floor
    assert stats.discordant_needed(0.0125) == 7  # 2^-7 < 0.0125 <= 2^-6


def test_spent_alpha_adds_up_to_alpha() -> None:
    assert sum(stats.spent_alpha(0.05, k) for k in range(1, 100_000)) == pytest.approx(0.05, rel=1e-4)
    with pytest.raises(ValueError, match="from 1"):
        stats.spent_alpha(0.05, 0)
