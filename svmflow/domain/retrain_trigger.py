"""When feedback asks for a training: enough new labels for the next test, a drift signal in the
unbiased ratings, or any new label that has waited too long."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from svmflow.domain.drift_signal import drifted
from svmflow.domain.training import SAMPLE


@dataclass(frozen=True)
class RetrainCounters:
    """The debounce counter as it stands after this message's labels and ratings were counted."""

    labels_total: int
    labels_at_last_request: int
    labels_needed: int | None  # derived by the last training; None: the configured number applies
    updated_at: datetime  # of the last request
    sample_rated: int  # unbiased ratings since the last request
    sample_wrong: int
    reference_error: float | None  # the serving model's error rate at its training


def sample_ratings(kind: str, ratings: Sequence[int]) -> tuple[int, int]:
    """How many unbiased ratings a message carries and how many of them say "wrong" (corrections-only
    feedback is no evidence of the error rate)."""
    if kind != SAMPLE:
        return 0, 0
    return len(ratings), sum(1 for r in ratings if r == 0)


def labels_pending(
    counters: RetrainCounters, min_new_labels: int, max_wait_seconds: float, now: datetime
) -> int | None:
    """The new labels a training should be asked for now, or None when it is not time yet."""
    pending = counters.labels_total - counters.labels_at_last_request
    needed = counters.labels_needed or min_new_labels
    waited = now - counters.updated_at
    overdue = max_wait_seconds > 0 and waited >= timedelta(seconds=max_wait_seconds)
    drift = drifted(counters.sample_wrong, counters.sample_rated, counters.reference_error)
    if pending <= 0 or (pending < needed and not overdue and not drift):
        return None
    return pending
