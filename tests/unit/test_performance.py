"""Live performance figures: Wilson intervals, balanced accuracy and per-class recall."""

from __future__ import annotations

import numpy as np
import pytest

from svmflow.domain.performance import summarize, version_performance, wilson


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    # Published values of the Wilson score interval (Newcombe 1998, table I; and 0 of 10, 10 of 10).
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (10, 10, 0.7225, 1.0)],
)
def test_wilson_interval_matches_published_values(successes: int, n: int, low: float, high: float) -> None:
    got = wilson(successes, n)
    assert got == pytest.approx((low, high), abs=1e-4)


def test_wilson_interval_covers_95_percent_by_simulation() -> None:
    rng = np.random.default_rng(7)
    p, n, trials = 0.9, 60, 4000
    hits = rng.binomial(n, p, size=trials)
    covered = sum(lo <= p <= hi for lo, hi in (wilson(int(h), n) for h in hits))
    assert 0.93 <= covered / trials <= 0.97


def test_accuracy_balanced_accuracy_and_recall_with_their_counts() -> None:
    # 90 true zeros (81 right), 10 true ones (5 right).
    confusion = {(0, 0): 81, (0, 1): 9, (1, 1): 5, (1, 0): 5}
    summary = summarize(confusion)
    assert summary.labels == 100
    assert summary.accuracy is not None
    assert summary.balanced_accuracy is not None
    assert summary.accuracy.value == pytest.approx(0.86)
    assert summary.accuracy.n == 100
    assert summary.recall["0"].value == pytest.approx(0.9)
    assert summary.recall["0"].n == 90
    assert summary.recall["1"].value == pytest.approx(0.5)
    assert summary.recall["1"].n == 10
    assert summary.balanced_accuracy.value == pytest.approx(0.7)
    # The scarce class dominates the uncertainty: wider than accuracy's interval, narrower than recall 1's.
    widths = {
        name: f.high - f.low
        for name, f in (
            ("acc", summary.accuracy),
            ("bal", summary.balanced_accuracy),
            ("r1", summary.recall["1"]),
        )
    }
    assert widths["acc"] < widths["bal"] < widths["r1"]
    assert summary.balanced_accuracy.low < 0.7 < summary.balanced_accuracy.high


def test_balanced_accuracy_interval_covers_by_simulation() -> None:
    rng = np.random.default_rng(11)
    n0, n1, r0, r1 = 120, 30, 0.92, 0.8
    truth = (r0 + r1) / 2
    covered = 0
    trials = 3000
    for _ in range(trials):
        h0, h1 = int(rng.binomial(n0, r0)), int(rng.binomial(n1, r1))
        s = summarize({(0, 0): h0, (0, 1): n0 - h0, (1, 1): h1, (1, 0): n1 - h1})
        assert s.balanced_accuracy is not None
        covered += s.balanced_accuracy.low <= truth <= s.balanced_accuracy.high
    assert 0.92 <= covered / trials <= 0.98


def test_no_labels_no_figures() -> None:
    summary = summarize({})
    assert (summary.labels, summary.accuracy, summary.balanced_accuracy, summary.recall) == (
        0,
        None,
        None,
        {},
    )


def test_a_class_never_truly_seen_has_no_recall() -> None:
    summary = summarize({(0, 0): 3, (0, 1): 1})
    assert set(summary.recall) == {"0"}
    assert summary.balanced_accuracy is not None
    assert summary.balanced_accuracy.value == 0.75


def test_per_day_and_overall() -> None:
    rows = [
        ("2026-12-02", 0, 0, 4),
        ("2026-12-01", 1, 1, 2),
        ("2026-12-01", 1, 0, 2),
        ("2026-12-02", 1, 1, 1),
    ]
    perf = version_performance("v1", 3, rows)
    assert [d.day for d in perf.days] == ["2026-12-01", "2026-12-02"]
    assert perf.overall.labels == 9
    assert perf.days[0].labels == 4
    assert perf.days[0].accuracy is not None
    assert perf.days[0].accuracy.value == 0.5
    assert perf.days[1].accuracy is not None
    assert perf.days[1].accuracy.value == 1.0
    assert perf.overall.recall["1"].n == 5
