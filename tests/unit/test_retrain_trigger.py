"""When feedback asks for a training: enough new labels, drift in the unbiased ratings, or a long wait."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from svmflow.domain.retrain_trigger import RetrainCounters, labels_pending, sample_ratings

NOW = datetime(2026, 1, 1, tzinfo=UTC)
QUIET = RetrainCounters(
    labels_total=25,
    labels_at_last_request=20,
    labels_needed=None,
    updated_at=NOW - timedelta(seconds=10),
    sample_rated=0,
    sample_wrong=0,
    reference_error=0.05,
)


def test_only_unbiased_ratings_count_as_evidence() -> None:
    assert sample_ratings("sample", [1, 0, 0, 1]) == (4, 2)
    assert sample_ratings("corrections", [0, 0]) == (0, 0)


def test_a_training_is_asked_for_once_enough_new_labels_came() -> None:
    assert labels_pending(QUIET, min_new_labels=10, max_wait_seconds=0, now=NOW) is None
    assert labels_pending(QUIET, min_new_labels=5, max_wait_seconds=0, now=NOW) == 5
    # The number the last training derived wins over the configured one.
    assert (
        labels_pending(replace(QUIET, labels_needed=4), min_new_labels=10, max_wait_seconds=0, now=NOW) == 5
    )


def test_a_long_wait_or_drift_asks_early_but_never_without_new_labels() -> None:
    assert labels_pending(QUIET, min_new_labels=10, max_wait_seconds=10, now=NOW) == 5
    assert labels_pending(QUIET, min_new_labels=10, max_wait_seconds=11, now=NOW) is None
    drifting = replace(QUIET, sample_rated=40, sample_wrong=20)
    assert labels_pending(drifting, min_new_labels=10, max_wait_seconds=0, now=NOW) == 5
    nothing_new = replace(drifting, labels_at_last_request=25)
    assert labels_pending(nothing_new, min_new_labels=1, max_wait_seconds=1, now=NOW) is None
