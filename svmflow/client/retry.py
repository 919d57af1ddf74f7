"""When to retry and how long to wait: bounded exponential backoff with jitter, ``Retry-After`` first."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# 429: slow down; 503: Pub/Sub or Redis unavailable, or no model yet. Both say so with Retry-After.
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6  # tries in all, the first one included
    base_delay: float = 0.2
    max_delay: float = 10.0
    # A server asking for longer than this is believed only up to here, so one answer cannot stall a
    # caller for an hour.
    max_retry_after: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return min(asked, self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds, or an HTTP date (RFC 9110); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class PollSchedule:
    """How often ``wait`` asks: quickly at first (most batches finish within a second), then less."""

    first: float = 0.05
    factor: float = 1.5
    max_interval: float = 2.0

    def interval(self, poll: int, retry_after: str | None = None) -> float:
        asked = parse_retry_after(retry_after)
        computed = min(self.max_interval, self.first * self.factor**poll)
        # The API's Retry-After on a pending batch is a ceiling worth respecting, not a floor: a batch
        # usually completes well within it.
        return computed if asked is None else min(asked, computed)
