"""A cheap drift signal from the ratings themselves, for the retraining trigger.

Unbiased ratings say how often the serving model is wrong. When that rate is clearly above the rate the
model had at its training, the world has moved, and waiting for the usual number of new labels would
only serve a stale model for longer. Pure Python (no scipy): it runs on every feedback message.
"""

from __future__ import annotations

import math

MIN_RATED = 20
SIGNAL_P_VALUE = 0.001


def binomial_tail(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    p = min(max(p, 1e-9), 1 - 1e-9)
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(trials + 1)
        - math.lgamma(k + 1)
        - math.lgamma(trials - k + 1)
        + k * log_p
        + (trials - k) * log_q
        for k in range(successes, trials + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def drifted(wrong: int, rated: int, reference_error: float | None) -> bool:
    """True when ``wrong`` of ``rated`` unbiased ratings are far more than ``reference_error`` predicts."""
    if reference_error is None or rated < MIN_RATED:
        return False
    return binomial_tail(wrong, rated, reference_error) <= SIGNAL_P_VALUE
