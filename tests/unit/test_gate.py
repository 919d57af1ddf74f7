from __future__ import annotations

from svmflow.contracts import Evaluation
from svmflow.domain.gate import GatePolicy, decide

POLICY = GatePolicy(accuracy_floor=0.95, min_new_labels=20, min_feedback_holdout=10)


def evaluation(seed: float, feedback: float | None = None, feedback_size: int = 0) -> Evaluation:
    return Evaluation(
        seed_holdout_accuracy=seed,
        seed_holdout_size=270,
        feedback_holdout_accuracy=feedback,
        feedback_holdout_size=feedback_size,
    )


def test_first_model_is_promoted_when_it_clears_the_floor() -> None:
    verdict = decide(evaluation(0.99), None, new_labels=0, policy=POLICY)
    assert verdict.promote
    assert "no champion" in verdict.reason


def test_below_the_floor_is_rejected_even_without_a_champion() -> None:
    verdict = decide(evaluation(0.90), None, new_labels=0, policy=POLICY)
    assert not verdict.promote
    assert "below the floor" in verdict.reason


def test_not_enough_new_labels_is_rejected() -> None:
    verdict = decide(evaluation(0.99), evaluation(0.98), new_labels=19, policy=POLICY)
    assert not verdict.promote
    assert "only 19 new labels" in verdict.reason


def test_at_least_as_good_is_promoted() -> None:
    verdict = decide(evaluation(0.98), evaluation(0.98), new_labels=20, policy=POLICY)
    assert verdict.promote
    assert "seed hold-out" in verdict.reason


def test_worse_is_rejected() -> None:
    verdict = decide(evaluation(0.97), evaluation(0.98), new_labels=50, policy=POLICY)
    assert not verdict.promote
    assert "0.9700 < champion 0.9800" in verdict.reason


def test_feedback_holdout_decides_when_large_enough() -> None:
    # Worse on the seed data but better on what users see now (a drift): promoted.
    challenger = evaluation(0.96, feedback=0.95, feedback_size=40)
    champion = evaluation(0.99, feedback=0.70, feedback_size=40)
    verdict = decide(challenger, champion, new_labels=50, policy=POLICY)
    assert verdict.promote
    assert "feedback hold-out (n=40)" in verdict.reason


def test_small_feedback_holdout_falls_back_to_seed() -> None:
    challenger = evaluation(0.96, feedback=1.0, feedback_size=3)
    champion = evaluation(0.99, feedback=0.3, feedback_size=3)
    assert not decide(challenger, champion, new_labels=50, policy=POLICY).promote


def test_adversarial_feedback_cannot_push_below_the_floor() -> None:
    challenger = evaluation(0.60, feedback=1.0, feedback_size=100)
    champion = evaluation(0.99, feedback=0.0, feedback_size=100)
    verdict = decide(challenger, champion, new_labels=500, policy=POLICY)
    assert not verdict.promote
    assert "below the floor" in verdict.reason


def test_feedback_tie_is_broken_by_the_seed_holdout() -> None:
    # Ratings that are all lies score both models 0 on the feedback hold-out; the trusted seed
    # hold-out then decides, so a worse challenger does not slip in above the floor.
    challenger = evaluation(0.96, feedback=0.0, feedback_size=40)
    champion = evaluation(1.0, feedback=0.0, feedback_size=40)
    verdict = decide(challenger, champion, new_labels=50, policy=POLICY)
    assert not verdict.promote
    assert "ties the champion at 0.0000" in verdict.reason
    assert "0.9600 < 1.0000" in verdict.reason


def test_feedback_tie_promotes_when_the_seed_holdout_is_no_worse() -> None:
    challenger = evaluation(0.99, feedback=0.9, feedback_size=40)
    champion = evaluation(0.99, feedback=0.9, feedback_size=40)
    assert decide(challenger, champion, new_labels=50, policy=POLICY).promote
