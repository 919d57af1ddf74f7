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

import msgspec
import numpy as np
from numpy.typing import NDArray

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


def decide(inputs: GateInputs, policy: GatePolicy) -> DecisionRecord:
    """The gate's steps in order: the seed hold-out's floors, a first champion, the tolerance against
    the champion, enough rated rows, then the paired test on the window."""
    rejected = _below_seed_floors(inputs, policy)
    if rejected is not None:
        return _record(inputs, rejected)
    champion_seed, window = inputs.champion_seed, inputs.window
    if champion_seed is None or window is None:
        return _record(inputs, _first_champion(inputs))
    rejected = _fell_from_champion(inputs, champion_seed, policy) or _too_few_rows(window, policy)
    if rejected is not None:
        return _record(inputs, rejected)
    comparison = _compare_on_window(inputs, window, policy)
    return _record(inputs, _window_verdict(comparison, inputs, policy), comparison)


@dataclass(frozen=True)
class _Verdict:
    promote: bool
    sentence: str


@dataclass(frozen=True)
class _WindowComparison:
    """The paired test of challenger and champion on the window, with the alpha this look may spend."""

    rows: int
    ours: Score
    theirs: Score
    test: stats.PairedTest
    alpha: float
    drift_p: float | None

    @property
    def on_window(self) -> str:
        return f"on the latest {self.rows} rated rows ({self.ours.value:.3f} vs {self.theirs.value:.3f})"


def _metric_name(inputs: GateInputs) -> str:
    return inputs.metric.replace("_", " ")


def _below_seed_floors(inputs: GateInputs, policy: GatePolicy) -> _Verdict | None:
    """The guard rails every challenger meets on the trusted seed hold-out, champion or not."""
    seed = inputs.challenger_seed
    if seed.value < policy.accuracy_floor:
        return _Verdict(
            False,
            f"Rejected: {_metric_name(inputs)} on the seed hold-out is {seed.value:.3f}, below the floor "
            f"{policy.accuracy_floor:.3f}.",
        )
    for recall in seed.recall:
        if recall.recall is not None and recall.recall < policy.recall_floor:
            return _Verdict(
                False,
                f"Rejected: recall of class {recall.label} on the seed hold-out is {recall.recall:.3f}, "
                f"below the per-class floor {policy.recall_floor:.3f}.",
            )
    return None


def _first_champion(inputs: GateInputs) -> _Verdict:
    seed = inputs.challenger_seed
    return _Verdict(
        True,
        f"Promoted: no champion yet, and {_metric_name(inputs)} on the seed hold-out is {seed.value:.3f}.",
    )


def _fell_from_champion(inputs: GateInputs, champion_seed: Score, policy: GatePolicy) -> _Verdict | None:
    seed = inputs.challenger_seed
    if seed.value < champion_seed.value - policy.seed_tolerance:
        return _Verdict(
            False,
            f"Rejected: {_metric_name(inputs)} on the seed hold-out fell from {champion_seed.value:.3f} to "
            f"{seed.value:.3f}, more than the tolerance {policy.seed_tolerance:.3f}.",
        )
    return None


def _too_few_rows(window: WindowEvidence, policy: GatePolicy) -> _Verdict | None:
    n = len(window.truth)
    if n < policy.min_window:
        return _Verdict(
            False,
            f"Rejected: only {n} rows of unbiased feedback to compare on; {policy.min_window} are needed.",
        )
    return None


def _compare_on_window(inputs: GateInputs, window: WindowEvidence, policy: GatePolicy) -> _WindowComparison:
    weights = metrics.row_weights(inputs.metric, window.truth)
    return _WindowComparison(
        rows=len(window.truth),
        ours=metrics.score(inputs.metric, window.truth, window.challenger, seed=1),
        theirs=metrics.score(inputs.metric, window.truth, window.champion, seed=1),
        test=stats.paired_sign_test(
            window.challenger == window.truth, window.champion == window.truth, weights
        ),
        alpha=stats.spent_alpha(policy.alpha, inputs.look),
        drift_p=_drift_p_value(window, inputs.champion_reference),
    )


def _window_verdict(comparison: _WindowComparison, inputs: GateInputs, policy: GatePolicy) -> _Verdict:
    """The first rule that settles it: behind or tied, a minority class eroded, significantly better,
    ahead of a drifted champion; otherwise ahead but not significantly."""
    return (
        _not_ahead(comparison)
        or _minority_class_eroded(comparison, policy)
        or _significantly_better(comparison, inputs.look)
        or _ahead_of_drifted_champion(comparison, inputs.champion_reference, policy)
        or _not_significantly_ahead(comparison, inputs.look)
    )


def _not_ahead(comparison: _WindowComparison) -> _Verdict | None:
    test = comparison.test
    if test.discordant == 0 or test.difference <= 0:
        what = "ties the champion" if test.difference == 0 else "is behind the champion"
        return _Verdict(
            False,
            f"Rejected: the challenger {what} {comparison.on_window}; {test.challenger_only} rows favour "
            f"it and {test.champion_only} the champion.",
        )
    return None


def _minority_class_eroded(comparison: _WindowComparison, policy: GatePolicy) -> _Verdict | None:
    eroded = _eroded_class(comparison.ours, comparison.theirs, policy)
    if eroded is not None:
        return _Verdict(False, f"Rejected: {eroded} {comparison.on_window}.")
    return None


# Half the look's alpha for each way to promote (significantly better, or ahead of a drifted
# champion), so together they stay within it.


def _significantly_better(comparison: _WindowComparison, look: int) -> _Verdict | None:
    p_value, half = comparison.test.p_value, comparison.alpha / 2
    if p_value <= half:
        return _Verdict(
            True,
            f"Promoted: significantly better {comparison.on_window}; p = {p_value:.2g} <= {half:.2g} "
            f"(test {look} against this champion).",
        )
    return None


def _ahead_of_drifted_champion(
    comparison: _WindowComparison, reference: Reference | None, policy: GatePolicy
) -> _Verdict | None:
    drift_p = comparison.drift_p
    if drift_p is not None and drift_p <= comparison.alpha / 2 and comparison.test.lower > -policy.margin:
        # A drift p-value needs the champion's reference (see _drift_p_value).
        assert reference is not None
        return _Verdict(
            True,
            f"Promoted: the champion has drifted (accuracy {reference.accuracy:.3f} at training, "
            f"p = {drift_p:.2g}), and the challenger is ahead {comparison.on_window} and no worse than "
            f"the margin {policy.margin:.3f}.",
        )
    return None


def _not_significantly_ahead(comparison: _WindowComparison, look: int) -> _Verdict:
    return _Verdict(
        False,
        f"Rejected: ahead {comparison.on_window} but not significantly: p = {comparison.test.p_value:.2g} "
        f"> {comparison.alpha / 2:.2g} (test {look} against this champion).",
    )


def _record(
    inputs: GateInputs, verdict: _Verdict, comparison: _WindowComparison | None = None
) -> DecisionRecord:
    """What the decision records: always its context, and the paired test's numbers once it ran."""
    seed, champion_seed = inputs.challenger_seed, inputs.champion_seed
    record = DecisionRecord(
        verdict="promoted" if verdict.promote else "rejected",
        sentence=verdict.sentence,
        metric=inputs.metric,
        window_rows=0 if inputs.window is None else len(inputs.window.truth),
        challenger_seed=seed,
        champion_seed=champion_seed,
        champion_reference=inputs.champion_reference,
        look=inputs.look,
        seed_delta=None if champion_seed is None else round(seed.value - champion_seed.value, 6),
    )
    if comparison is None:
        return record
    test = comparison.test
    return msgspec.structs.replace(
        record,
        challenger_window=comparison.ours,
        champion_window=comparison.theirs,
        challenger_only=test.challenger_only,
        champion_only=test.champion_only,
        difference=round(test.difference, 6),
        p_value=test.p_value,
        alpha=comparison.alpha,
        drift_p_value=comparison.drift_p,
        tested=True,
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
    # scipy.stats takes about a second to import: loaded on first use, not on every cold start.
    from scipy import stats as scipy_stats

    if reference is None or reference.rows == 0:
        return None
    errors = int(np.sum(window.champion != window.truth))
    n = len(window.truth)
    table = [[errors, n - errors], [reference.errors, reference.rows - reference.errors]]
    return float(scipy_stats.fisher_exact(table, alternative="greater").pvalue)
