"""The sequential test behind automatic rollback, by simulation: every path is looked at after every
label, the most demanding way to watch, and the predecessor's accuracy is itself an estimate."""

from __future__ import annotations

import numpy as np
import pytest

from svmflow.domain.sequential import WatchPolicy, failure_boundary, log_ratio, watch

POLICY = WatchPolicy(drop=0.05, alpha=0.01, max_labels=1000)


def first_detection(
    rng: np.random.Generator, p_new: float, p_old: float, predecessor_labels: int, draws: int, paths: int
) -> np.ndarray:
    """The label at which each simulated path rolls back (inf: never within the watch). Each draw is
    a predecessor measured on its own labels; each path a new model rated label by label."""
    found = []
    for _ in range(draws):
        right = int(rng.binomial(predecessor_labels, p_old))
        boundary = failure_boundary(right, predecessor_labels - right, POLICY)
        wrong = np.cumsum(rng.random((paths, POLICY.max_labels)) >= p_new, axis=1)
        crossed = wrong >= boundary
        found.append(np.where(crossed.any(axis=1), crossed.argmax(axis=1) + 1, np.inf))
    return np.concatenate(found)


def test_a_model_as_good_as_its_predecessor_is_rolled_back_under_one_percent_of_the_time() -> None:
    rng = np.random.default_rng(20261201)
    for predecessor_labels in (300, 3000):
        detected = first_detection(rng, 0.90, 0.90, predecessor_labels, draws=8, paths=2500)
        assert np.isfinite(detected).mean() < 0.01, predecessor_labels


def test_a_drop_from_90_to_85_percent_is_detected() -> None:
    rng = np.random.default_rng(7)
    detected = first_detection(rng, 0.85, 0.90, 20_000, draws=4, paths=2500)
    # 95% within the watch of 1000 labels (exact: ~0.95), half by 350 labels. No test of any kind
    # reaches more than 0.67 by 350 labels at 1% false alarms (Neyman-Pearson, exact binomial).
    assert np.mean(detected <= 1000) >= 0.93
    assert 0.40 <= np.mean(detected <= 350) <= 0.67


def test_a_larger_drop_is_detected_within_350_labels() -> None:
    rng = np.random.default_rng(11)
    detected = first_detection(rng, 0.80, 0.90, 3000, draws=4, paths=2500)
    assert np.mean(detected <= 350) >= 0.95


def test_few_labels_behind_the_predecessor_make_the_test_ask_for_more_evidence() -> None:
    # The same new-model record (85 right of 100) against a 90% predecessor measured on 50 or 5000 labels.
    sure = log_ratio(85, 15, 4500, 500, 0.05)
    unsure = log_ratio(85, 15, 45, 5, 0.05)
    assert unsure < sure
    assert failure_boundary(45, 5, POLICY)[499] > failure_boundary(4500, 500, POLICY)[499]


@pytest.mark.parametrize(
    ("right", "wrong", "verdict"),
    [(300, 60, "drop"), (320, 40, "watching"), (900, 100, "confirmed")],
)
def test_verdicts(right: int, wrong: int, verdict: str) -> None:
    result = watch(right, wrong, 1800, 200, POLICY)
    assert result.verdict == verdict
    assert result.labels == right + wrong
    assert result.predecessor_accuracy == pytest.approx(0.9)
    assert (result.log_ratio >= result.threshold) == (verdict == "drop")
