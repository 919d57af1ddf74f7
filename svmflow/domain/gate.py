"""The promotion gate: a challenger replaces the champion only when it is at least as good."""

from __future__ import annotations

from dataclasses import dataclass

from svmflow.contracts import Evaluation


@dataclass(frozen=True)
class GatePolicy:
    accuracy_floor: float = 0.95  # on the trusted seed hold-out, whatever the feedback says
    min_new_labels: int = 20  # feedback labels gathered since the champion was trained
    min_feedback_holdout: int = 20  # below this, the feedback hold-out is too small to compare on


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reason: str


def decide(
    challenger: Evaluation, champion: Evaluation | None, new_labels: int, policy: GatePolicy
) -> GateDecision:
    """Compare on the feedback hold-out when it is large enough (it reflects today's data), else on
    the seed hold-out; never promote below the floor on the seed hold-out, which feedback cannot touch.
    A tie on the feedback hold-out is broken by the seed hold-out.
    """
    seed_accuracy = challenger.seed_holdout_accuracy
    if seed_accuracy < policy.accuracy_floor:
        return GateDecision(
            False,
            f"challenger seed hold-out accuracy {seed_accuracy:.4f} is below the floor "
            f"{policy.accuracy_floor:.4f}",
        )
    if champion is None:
        return GateDecision(
            True,
            f"no champion yet; challenger seed hold-out accuracy {seed_accuracy:.4f} clears the floor",
        )
    if new_labels < policy.min_new_labels:
        return GateDecision(
            False,
            f"only {new_labels} new labels since the champion was trained; "
            f"{policy.min_new_labels} are needed",
        )
    on_feedback = (
        challenger.feedback_holdout_size >= policy.min_feedback_holdout
        and challenger.feedback_holdout_accuracy is not None
        and champion.feedback_holdout_accuracy is not None
    )
    if on_feedback:
        name = f"feedback hold-out (n={challenger.feedback_holdout_size})"
        ours, theirs = challenger.feedback_holdout_accuracy, champion.feedback_holdout_accuracy
    else:
        name = f"seed hold-out (n={challenger.seed_holdout_size})"
        ours, theirs = challenger.seed_holdout_accuracy, champion.seed_holdout_accuracy
    assert ours is not None
    assert theirs is not None
    if ours < theirs:
        return GateDecision(False, f"challenger {ours:.4f} < champion {theirs:.4f} on the {name}")
    if on_feedback and ours == theirs and seed_accuracy < champion.seed_holdout_accuracy:
        # A tie on the feedback hold-out says nothing new, and feedback can be wrong, so the trusted
        # seed hold-out breaks it: without this, ratings that are all lies (the feedback hold-out then
        # scores both models 0) let any challenger above the floor replace a better champion.
        return GateDecision(
            False,
            f"challenger ties the champion at {ours:.4f} on the {name} but is worse on the seed "
            f"hold-out ({seed_accuracy:.4f} < {champion.seed_holdout_accuracy:.4f})",
        )
    return GateDecision(True, f"challenger {ours:.4f} >= champion {theirs:.4f} on the {name}")
