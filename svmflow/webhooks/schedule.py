"""When to try again: the schedule the Standard Webhooks specification gives as its example
(immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h: eight attempts over about a day), each
delay with random jitter so that receivers coming back from an outage are not hit in lockstep.
``scale`` compresses the whole schedule (tests run it in milliseconds)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from svmflow.webhooks.delivery import Outcome

SPEC_DELAYS_SECONDS = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
JITTER = 0.2  # each delay is drawn from [1 - JITTER, 1 + JITTER] times the nominal one

Step = Literal["delivered", "retry", "dead-lettered", "endpoint-disabled"]


@dataclass(frozen=True)
class Decision:
    step: Step
    delay_seconds: float = 0.0  # for "retry": how long until the next attempt


def delay_before(attempt: int, *, scale: float = 1.0, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt number ``attempt`` (1-based; the first is immediate)."""
    if not 1 <= attempt <= len(SPEC_DELAYS_SECONDS):
        raise ValueError(f"attempt must be 1 to {len(SPEC_DELAYS_SECONDS)}")
    nominal = SPEC_DELAYS_SECONDS[attempt - 1] * scale
    return nominal * (rng or random).uniform(1 - JITTER, 1 + JITTER)


def after(
    outcome: Outcome, attempt: int, *, scale: float = 1.0, rng: random.Random | None = None
) -> Decision:
    """What follows attempt number ``attempt`` that ended in ``outcome``."""
    if outcome == "delivered":
        return Decision("delivered")
    if outcome == "gone":
        return Decision("endpoint-disabled")
    # "failed" and "refused" alike: a name that resolves to a refused address now may resolve
    # properly later (and a rebinding attacker gains nothing: every attempt is checked again).
    if attempt >= len(SPEC_DELAYS_SECONDS):
        return Decision("dead-lettered")
    return Decision("retry", delay_before(attempt + 1, scale=scale, rng=rng))


def run(
    attempt: Callable[[int], Outcome],
    *,
    scale: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> tuple[Step, int]:
    """Attempt until delivered, disabled or dead-lettered, waiting the schedule's delays in between;
    returns the final step and the number of attempts made."""
    number = 1
    while True:
        decision = after(attempt(number), number, scale=scale, rng=rng)
        if decision.step != "retry":
            return decision.step, number
        sleep(decision.delay_seconds)
        number += 1
