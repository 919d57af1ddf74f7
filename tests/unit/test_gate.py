"""The promotion gate on constructed cases, and a simulation of its false-promotion rate."""

from __future__ import annotations

import numpy as np
import pytest

from svmflow.domain import metrics, stats
from svmflow.domain.gate import GateInputs, GatePolicy, WindowEvidence, decide
from svmflow.domain.metrics import Score
from svmflow.domain.records import Reference

POLICY = GatePolicy(accuracy_floor=0.95, seed_tolerance=0.02, recall_floor=0.9, alpha=0.05, min_window=20)


def seed(value: float, recalls: tuple[float, float] = (1.0, 1.0)) -> Score:
    return Score(
        metric="accuracy",
        value=value,
        low=value,
        high=value,
        rows=146,
        recall=[metrics.ClassRecall(label=i, recall=r, rows=73) for i, r in enumerate(recalls)],
    )


def window(
    rows: int, challenger_only: int, champion_only: int, both_wrong: int = 0, minority: int = 0
) -> WindowEvidence:
    """``rows`` labelled rows (the last ``minority`` of class 1, the rest class 0): the challenger alone
    is right on the first ``challenger_only``, the champion alone on the next ``champion_only``, both
    are wrong on the next ``both_wrong``, and both right on the rest."""
    truth = np.zeros(rows, dtype=np.int64)
    if minority:
        truth[-minority:] = 1
    challenger, champion = truth.copy(), truth.copy()
    a, b, c = challenger_only, challenger_only + champion_only, challenger_only + champion_only + both_wrong
    champion[:a] = 1 - truth[:a]
    challenger[a:b] = 1 - truth[a:b]
    challenger[b:c] = 1 - truth[b:c]
    champion[b:c] = 1 - truth[b:c]
    return WindowEvidence(truth, challenger, champion)


def inputs(
    evidence: WindowEvidence | None,
    *,
    challenger_seed: Score | None = None,
    champion_seed: Score | None = None,
    reference: Reference | None = None,
    look: int = 1,
    metric: metrics.MetricName = "accuracy",
) -> GateInputs:
    return GateInputs(
        metric=metric,
        challenger_seed=challenger_seed or seed(0.99),
        champion_seed=champion_seed or seed(0.99),
        window=evidence,
        champion_reference=reference,
        look=look,
    )


def test_first_model_is_promoted_when_it_clears_the_floor() -> None:
    record = decide(GateInputs("accuracy", seed(0.99), None, None, None, 0), POLICY)
    assert record.verdict == "promoted"
    assert "no champion" in record.sentence


def test_first_model_below_the_floor_is_rejected() -> None:
    record = decide(GateInputs("accuracy", seed(0.90), None, None, None, 0), POLICY)
    assert record.verdict == "rejected"
    assert "below the floor" in record.sentence


def test_a_class_below_the_recall_floor_on_the_seed_hold_out_is_rejected() -> None:
    record = decide(GateInputs("accuracy", seed(0.96, (1.0, 0.85)), None, None, None, 0), POLICY)
    assert record.verdict == "rejected"
    assert "recall of class 1" in record.sentence


def test_a_pure_tie_never_promotes() -> None:
    record = decide(inputs(window(300, 0, 0, both_wrong=30)), POLICY)
    assert record.verdict == "rejected"
    assert "ties" in record.sentence
    assert record.p_value == 1.0


def test_equal_scores_on_different_rows_never_promote() -> None:
    record = decide(inputs(window(300, 12, 12)), POLICY)
    assert record.verdict == "rejected"
    assert record.difference == 0


def test_a_significant_win_is_promoted_with_its_numbers() -> None:
    record = decide(inputs(window(200, 12, 1)), POLICY)
    assert record.verdict == "promoted"
    assert "significantly better" in record.sentence
    assert record.window_rows == 200
    assert (record.challenger_only, record.champion_only) == (12, 1)
    assert record.p_value == pytest.approx(14 / 2**13)  # exact McNemar: P(X >= 12 | 13, 1/2)
    assert record.challenger_window is not None
    assert record.champion_window is not None
    assert record.challenger_window.value == pytest.approx(1.0 - 1 / 200)
    assert record.challenger_window.low <= record.challenger_window.value <= record.challenger_window.high
    assert record.seed_delta == 0


def test_the_same_lead_does_not_promote_after_many_tests() -> None:
    """Alpha is spent per test: the 10th test against a champion needs far stronger evidence."""
    assert decide(inputs(window(200, 9, 0), look=1), POLICY).verdict == "promoted"
    later = decide(inputs(window(200, 9, 0), look=10), POLICY)
    assert later.verdict == "rejected"
    assert "not significantly" in later.sentence
    assert later.alpha == pytest.approx(0.05 / 110)


def test_a_drifted_champion_is_replaced_by_a_challenger_ahead_within_the_margin() -> None:
    # The champion had 1% error at its training; now it is wrong on 30 of 150 rows. The challenger is
    # right on 4 of those more, wrong on 1 the champion gets: not significant on its own.
    reference = Reference(accuracy=0.99, errors=5, rows=500, source="recent_feedback")
    evidence = window(150, 4, 1, both_wrong=26)
    assert decide(inputs(evidence), POLICY).verdict == "rejected"
    record = decide(inputs(evidence, reference=reference), POLICY)
    assert record.verdict == "promoted"
    assert "drifted" in record.sentence
    assert record.drift_p_value is not None
    assert record.drift_p_value < 1e-6


def test_drift_does_not_promote_a_challenger_that_is_behind() -> None:
    reference = Reference(accuracy=0.99, errors=5, rows=500, source="recent_feedback")
    record = decide(inputs(window(150, 1, 4, both_wrong=26), reference=reference), POLICY)
    assert record.verdict == "rejected"
    assert "behind" in record.sentence


def test_poisoned_feedback_cannot_push_a_model_below_the_seed_guard_rails() -> None:
    """Lies make the challenger look far better on the window; the seed hold-out, which feedback
    cannot touch, still stops it: below the floor, or more than the tolerance below the champion."""
    lies = window(200, 80, 0)
    below_floor = decide(inputs(lies, challenger_seed=seed(0.93), champion_seed=seed(1.0)), POLICY)
    assert below_floor.verdict == "rejected"
    assert "below the floor" in below_floor.sentence
    dropped = decide(inputs(lies, challenger_seed=seed(0.96), champion_seed=seed(1.0)), POLICY)
    assert dropped.verdict == "rejected"
    assert "more than the tolerance" in dropped.sentence
    assert dropped.seed_delta == pytest.approx(-0.04)


def test_a_challenger_that_erodes_the_minority_class_is_rejected() -> None:
    # 190 majority rows, 20 minority rows. The challenger fixes 15 majority rows the champion got
    # wrong, but gets 8 minority rows wrong that the champion got right: recall 0.6 < floor 0.9.
    truth = np.r_[np.zeros(190, dtype=np.int64), np.ones(20, dtype=np.int64)]
    champion, challenger = truth.copy(), truth.copy()
    champion[:15] = 1
    challenger[190:198] = 0
    evidence = WindowEvidence(truth, challenger, champion)
    accuracy = decide(inputs(evidence), POLICY)
    assert accuracy.verdict == "rejected"
    assert "recall of class 1 is 0.600" in accuracy.sentence
    # Balanced accuracy alone also sees it: the challenger is behind (0.913 vs 0.961).
    balanced = decide(inputs(evidence, metric="balanced_accuracy"), POLICY.__class__(recall_floor=0.5))
    assert balanced.verdict == "rejected"
    assert balanced.difference is not None
    assert balanced.difference < 0


def test_auto_metric_is_balanced_accuracy_when_classes_are_imbalanced() -> None:
    assert (
        metrics.choose("auto", np.r_[np.zeros(95), np.ones(5)].astype(np.int64), 0.3) == "balanced_accuracy"
    )
    assert metrics.choose("auto", np.r_[np.zeros(55), np.ones(45)].astype(np.int64), 0.3) == "accuracy"
    assert metrics.choose("macro_f1", np.zeros(3, dtype=np.int64), 0.3) == "macro_f1"
    with pytest.raises(ValueError, match="unknown metric"):
        metrics.choose("f2", np.zeros(3, dtype=np.int64), 0.3)


def test_the_weighted_test_is_exact_mcnemar_with_equal_weights() -> None:
    right_a = np.r_[np.ones(10, bool), np.zeros(3, bool), np.ones(50, bool)]
    right_b = np.r_[np.zeros(10, bool), np.ones(3, bool), np.ones(50, bool)]
    test = stats.paired_sign_test(right_a, right_b, np.full(63, 1 / 63))
    from scipy.stats import binomtest

    assert test.p_value == pytest.approx(binomtest(10, 13, 0.5, alternative="greater").pvalue)


def _false_promotion_rate(looks: int, runs: int, spend: bool) -> float:
    """Two equally good models (each right on 90% of rows, independently); after every batch of 50
    new rated rows a new challenger is tested on the latest 200. The fraction of runs with any
    promotion is the false-promotion rate."""
    rng = np.random.default_rng(7)
    policy = GatePolicy(alpha=0.05, min_window=20)
    promoted = 0
    reference = Reference(accuracy=0.9, errors=50, rows=500, source="recent_feedback")
    for _ in range(runs):
        truth = np.zeros(0, dtype=np.int64)
        champion = np.zeros(0, dtype=np.int64)
        for look in range(1, looks + 1):
            new_truth = rng.integers(0, 2, 50)
            truth = np.r_[truth, new_truth][-200:]
            champion = np.r_[champion, np.where(rng.random(50) < 0.9, new_truth, 1 - new_truth)][-200:]
            challenger = np.where(rng.random(len(truth)) < 0.9, truth, 1 - truth)
            evidence = WindowEvidence(truth, challenger, champion)
            record = decide(
                inputs(evidence, reference=reference, look=look if spend else 1),
                policy,
            )
            if record.verdict == "promoted":
                promoted += 1
                break
    return promoted / runs


def test_retesting_after_every_batch_keeps_false_promotions_under_five_percent() -> None:
    spent = _false_promotion_rate(looks=10, runs=200, spend=True)
    naive = _false_promotion_rate(looks=10, runs=100, spend=False)
    assert spent < 0.05
    # Without spending, the same fixed test at every look promotes an equal model far more often.
    assert naive > 2 * spent
    assert naive > 0.05
