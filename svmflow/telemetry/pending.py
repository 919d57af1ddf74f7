"""The batches an ingest API accepted and has not seen done, for the age of the oldest pending batch.

The read model stores a batch only once it is done or failed, so the batches still pending are known
only where they were accepted: each ingest instance keeps the ids it accepted, oldest first, and asks
the read model (one round trip) which of the oldest are still pending when the gauge is read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Beyond this many accepted and unfinished batches the newest are not tracked: the oldest set the age.
MAX_TRACKED = 10_000
# How many of the oldest are looked up per reading; those found done are forgotten.
LOOKUP = 100


class PendingBatches:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._accepted: dict[str, float] = {}  # insertion order is acceptance order
        self._lock = threading.Lock()
        self._clock = clock

    def accepted(self, batch_id: str) -> None:
        with self._lock:
            if len(self._accepted) < MAX_TRACKED:
                self._accepted.setdefault(batch_id, self._clock())

    def oldest_age(self, statuses: Callable[[list[str]], list[str]]) -> float:
        """Seconds since the oldest batch still pending was accepted; 0 when none is."""
        while True:
            with self._lock:
                oldest = list(self._accepted.items())[:LOOKUP]
            if not oldest:
                return 0.0
            found = statuses([batch_id for batch_id, _ in oldest])
            with self._lock:
                for (batch_id, _), status in zip(oldest, found, strict=True):
                    if status != "pending":
                        self._accepted.pop(batch_id, None)
            for (_, accepted_at), status in zip(oldest, found, strict=True):
                if status == "pending":
                    return max(0.0, self._clock() - accepted_at)
