"""Live performance of a model version from rated predictions: accuracy, balanced accuracy and
per-class recall, each with a 95% Wilson score interval and the number of labels behind it.

The input is a confusion count: how many rated predictions had each (true label, predicted label).
A rating of 1 says the predicted label was right; a rating of 0 makes the true label the other class
(binary), or the class the rater named. A true label below 0 is a multi-class "wrong" without the right
class: it counts against accuracy and for no class's recall.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import msgspec

Z_95 = 1.959963984540054  # the two-sided 95% quantile of the standard normal


class Figure(msgspec.Struct, kw_only=True):
    """A proportion with its 95% interval; ``n`` is how many labels it rests on."""

    value: float
    low: float
    high: float
    n: int


class Performance(msgspec.Struct, kw_only=True):
    labels: int
    accuracy: Figure | None
    balanced_accuracy: Figure | None
    # Keyed by class (as text: JSON object keys); a class no rated record truly had is absent.
    recall: dict[str, Figure]


class DailyPerformance(Performance, kw_only=True):
    day: str  # the UTC day the rated predictions were made, YYYY-MM-DD


class VersionPerformance(msgspec.Struct, kw_only=True):
    model_version: str
    revision: int  # grows with every recomputation, so the newest projection wins in the read model
    overall: Performance
    days: list[DailyPerformance]


def wilson(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson's score interval: unlike p ± z·se it stays inside [0, 1] and keeps its coverage near 0
    and 1 and for the small counts a new model version starts with."""
    if n <= 0:
        raise ValueError("an interval needs at least one label")
    return wilson_fractional(successes / n, n, z)


def figure(successes: int, n: int) -> Figure:
    low, high = wilson(successes, n)
    return Figure(value=successes / n, low=low, high=high, n=n)


def balanced(recalls: Mapping[str, tuple[int, int]]) -> Figure:
    """The mean of per-class recalls. It is not one proportion, so its interval is Wilson's with an
    effective sample size: the n for which a single proportion equal to it would have its variance
    (sum over classes of p(1-p)/n_c, over K²). With no variance to go on (every recall 0 or 1) the
    effective n is the one equal recalls would give: K² / sum(1/n_c)."""
    k = len(recalls)
    value = sum(hits / n for hits, n in recalls.values()) / k
    variance = sum((hits / n) * (1 - hits / n) / n for hits, n in recalls.values()) / (k * k)
    if variance > 0 and 0 < value < 1:
        effective = value * (1 - value) / variance
    else:
        effective = k * k / sum(1 / n for _, n in recalls.values())
    low, high = wilson_fractional(value, effective)
    return Figure(value=value, low=low, high=high, n=sum(n for _, n in recalls.values()))


def wilson_fractional(p: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """Wilson's interval for a proportion ``p`` observed on a (possibly fractional) effective ``n``."""
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(max(0.0, p * (1 - p) / n + z2 / (4 * n * n)))
    return max(0.0, centre - half), min(1.0, centre + half)


Confusion = Mapping[tuple[int, int], int]  # (true label, predicted label) -> count


def summarize(confusion: Confusion) -> Performance:
    total = sum(confusion.values())
    if total == 0:
        return Performance(labels=0, accuracy=None, balanced_accuracy=None, recall={})
    correct = sum(count for (true, predicted), count in confusion.items() if true == predicted)
    per_class: dict[str, tuple[int, int]] = {}
    for true in sorted({true for true, _ in confusion if true >= 0}):
        n = sum(count for (t, _), count in confusion.items() if t == true)
        if n:
            per_class[str(true)] = (confusion.get((true, true), 0), n)
    return Performance(
        labels=total,
        accuracy=figure(correct, total),
        balanced_accuracy=balanced(per_class) if per_class else None,
        recall={label: figure(hits, n) for label, (hits, n) in per_class.items()},
    )


def version_performance(
    model_version: str, revision: int, counts: Iterable[tuple[str, int, int, int]]
) -> VersionPerformance:
    """``counts``: (day, true label, predicted label, count) rows of one model version."""
    overall: dict[tuple[int, int], int] = {}
    by_day: dict[str, dict[tuple[int, int], int]] = {}
    for day, true, predicted, count in counts:
        key = (int(true), int(predicted))
        overall[key] = overall.get(key, 0) + int(count)
        daily = by_day.setdefault(day, {})
        daily[key] = daily.get(key, 0) + int(count)
    days = []
    for day in sorted(by_day):
        summary = summarize(by_day[day])
        days.append(DailyPerformance(day=day, **msgspec.structs.asdict(summary)))
    return VersionPerformance(
        model_version=model_version, revision=revision, overall=summarize(overall), days=days
    )
