"""The promotion gate: a challenger replaces the champion only on evidence.

Order of the checks: the guard rails on the trusted seed hold-out (absolute floor, per-class recall floor,
tolerance against the champion), then the paired test on the latest unbiased feedback. The challenger
wins when it is significantly better there, or, when the champion is significantly worse there than at
its own training (drift), when it is ahead and not plausibly worse by more than the margin. A tie never
promotes. Each test against one champion spends part of a fixed alpha (see ``stats.spent_alpha``), so
re-testing after every batch does not add up to more than ``alpha`` of false promotions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict, Unpack

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scipy_stats

from svmflow.domain import metrics, stats
from svmflow.domain.metrics import MetricName, Score
from svmflow.domain.records import DecisionRecord, Reference


@dataclass(frozen=True)
class GatePolicy:
    accuracy_floor: float = 0.95  # the metric on the seed hold-out, whatever the feedback says
    seed_tolerance: float = 0.02  # how far below the champion on the seed hold-out a challenger may be
    recall_floor: float = 0.90  # per class, on the seed hold-out and (vs the champion) on the window
    alpha: float = 0.05  # the false-promotion budget per champion, over all its tests
    margin: float = 0.02  # non-inferiority margin on the window when the champion has drifted
    window: int = 500  # latest unbiased feedback labels the models are compared on
    min_window: int = 20  # fewer rated rows than this: no comparison
    min_class_rows: int = 10  # a class's recall on the window counts from this many rows
    minority_share: float = 0.3  # ... and only for a class this rare there (the metric guards the rest)


@dataclass(frozen=True)
class WindowEvidence:
    truth: NDArray[np.int64]
    challenger: NDArray[np.int64]  # cross-fitted predictions
    champion: NDArray[np.int64]


@dataclass(frozen=True)
class GateInputs:
    metric: MetricName
    challenger_seed: Score
    champion_seed: Score | None
    window: WindowEvidence | None  # None when there is no champion to compare with
    champion_reference: Reference | None
    look: int  # this test's number against the champion, from 1


class _Context(TypedDict):
    """What every decision records, whatever the verdict."""

    metric: MetricName
    window_rows: int
    challenger_seed: Score
    champion_seed: Score | None
    champion_reference: Reference | None
    look: int
    seed_delta: float | None


class _Comparison(TypedDict, total=False):
    """What a decision records of the paired test on the window, once it ran."""

    challenger_window: Score
    champion_window: Score
    challenger_only: int
    champion_only: int
    difference: float
    p_value: float
    alpha: float
    drift_p_value: float | None
    tested: bool


def decide(inputs: GateInputs, policy: GatePolicy) -> DecisionRecord:
    seed = inputs.challenger_seed
    base: _Context = {
        "metric": inputs.metric,
        "window_rows": 0 if inputs.window is None else len(inputs.window.truth),
        "challenger_seed": seed,
        "champion_seed": inputs.champion_seed,
        "champion_reference": inputs.champion_reference,
        "look": inputs.look,
        "seed_delta": None,
    }
    if inputs.champion_seed is not None:
        base["seed_delta"] = round(seed.value - inputs.champion_seed.value, 6)

    def verdict(promote: bool, sentence: str, **more: Unpack[_Comparison]) -> DecisionRecord:
        return DecisionRecord(
            verdict="promoted" if promote else "rejected", sentence=sentence, **base, **more
        )

    name = inputs.metric.replace("_", " ")
    if seed.value < policy.accuracy_floor:
        return verdict(
            False,
            f"Rejected: {name} on the seed hold-out is {seed.value:.3f}, below the floor "
            f"{policy.accuracy_floor:.3f}.",
        )
    for recall in seed.recall:
        if recall.recall is not None and recall.recall < policy.recall_floor:
            return verdict(
                False,
                f"Rejected: recall of class {recall.label} on the seed hold-out is {recall.recall:.3f}, "
                f"below the per-class floor {policy.recall_floor:.3f}.",
            )
    champion_seed = inputs.champion_seed
    if champion_seed is None or inputs.window is None:
        return verdict(
            True, f"Promoted: no champion yet, and {name} on the seed hold-out is {seed.value:.3f}."
        )
    if seed.value < champion_seed.value - policy.seed_tolerance:
        return verdict(
            False,
            f"Rejected: {name} on the seed hold-out fell from {champion_seed.value:.3f} to {seed.value:.3f}, "
            f"more than the tolerance {policy.seed_tolerance:.3f}.",
        )
    window = inputs.window
    n = len(window.truth)
    if n < policy.min_window:
        return verdict(
            False,
            f"Rejected: only {n} rows of unbiased feedback to compare on; {policy.min_window} are needed.",
        )
    ours = metrics.score(inputs.metric, window.truth, window.challenger, seed=1)
    theirs = metrics.score(inputs.metric, window.truth, window.champion, seed=1)
    weights = metrics.row_weights(inputs.metric, window.truth)
    test = stats.paired_sign_test(window.challenger == window.truth, window.champion == window.truth, weights)
    alpha = stats.spent_alpha(policy.alpha, inputs.look)
    drift_p = _drift_p_value(window, inputs.champion_reference)
    numbers: _Comparison = {
        "challenger_window": ours,
        "champion_window": theirs,
        "challenger_only": test.challenger_only,
        "champion_only": test.champion_only,
        "difference": round(test.difference, 6),
        "p_value": test.p_value,
        "alpha": alpha,
        "drift_p_value": drift_p,
        "tested": True,
    }
    on_window = f"on the latest {n} rated rows ({ours.value:.3f} vs {theirs.value:.3f})"
    if test.discordant == 0 or test.difference <= 0:
        what = "ties the champion" if test.difference == 0 else "is behind the champion"
        return verdict(
            False,
            f"Rejected: the challenger {what} {on_window}; {test.challenger_only} rows favour it and "
            f"{test.champion_only} the champion.",
            **numbers,
        )
    eroded = _eroded_class(ours, theirs, policy)
    if eroded is not None:
        return verdict(False, f"Rejected: {eroded} {on_window}.", **numbers)
    # Half the look's alpha for each way to promote, so together they stay within it.
    if test.p_value <= alpha / 2:
        return verdict(
            True,
            f"Promoted: significantly better {on_window}; p = {test.p_value:.2g} <= {alpha / 2:.2g} "
            f"(test {inputs.look} against this champion).",
            **numbers,
        )
    if drift_p is not None and drift_p <= alpha / 2 and test.lower > -policy.margin:
        reference = inputs.champion_reference
        assert reference is not None
        return verdict(
            True,
            f"Promoted: the champion has drifted (accuracy {reference.accuracy:.3f} at training, "
            f"p = {drift_p:.2g}), and the challenger is ahead {on_window} and no worse than the margin "
            f"{policy.margin:.3f}.",
            **numbers,
        )
    return verdict(
        False,
        f"Rejected: ahead {on_window} but not significantly: p = {test.p_value:.2g} > {alpha / 2:.2g} "
        f"(test {inputs.look} against this champion).",
        **numbers,
    )


def _eroded_class(ours: Score, theirs: Score, policy: GatePolicy) -> str | None:
    """A minority class whose recall on the window the challenger pushes below the floor, and below
    the champion's by more than the margin."""
    rows = sum(r.rows for r in ours.recall)
    for mine, champion in zip(ours.recall, theirs.recall, strict=True):
        if mine.rows < policy.min_class_rows or mine.recall is None or champion.recall is None:
            continue
        if mine.rows >= policy.minority_share * rows:
            # A common class may trade recall with the other one: accuracy already weighs both.
            continue
        if mine.recall < policy.recall_floor and mine.recall < champion.recall - policy.margin:
            return (
                f"the challenger's recall of class {mine.label} is {mine.recall:.3f} "
                f"(champion {champion.recall:.3f}, floor {policy.recall_floor:.3f})"
            )
    return None


def _drift_p_value(window: WindowEvidence, reference: Reference | None) -> float | None:
    """One-sided Fisher exact test: the champion's error rate on the window exceeds its training-time one."""
    if reference is None or reference.rows == 0:
        return None
    errors = int(np.sum(window.champion != window.truth))
    n = len(window.truth)
    table = [[errors, n - errors], [reference.errors, reference.rows - reference.errors]]
    return float(scipy_stats.fisher_exact(table, alternative="greater").pvalue)
