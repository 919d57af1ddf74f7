"""Give memory back after a burst.

A long-running process of this system (``svmflow run``, a function instance, an API) allocates most of
a batch's memory in worker threads. glibc gives each thread that contends for the heap an arena of its
own (up to eight per core) and returns an arena's free pages to the system only when the top of it is
free, so after a burst of thousands of batches the resident size stayed tens of megabytes above where
it started although Python had freed everything. Two arenas bound the spread, and ``malloc_trim``
once the process is idle returns the free pages of every arena.

Both are no-ops where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h
ARENAS = 2


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt") else None


_LIBC = _libc()


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Bound the malloc arenas of this process (as MALLOC_ARENA_MAX would, when it is not set).
    Call it before starting threads: arenas made earlier stay."""
    if _LIBC is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(_LIBC.mallopt(M_ARENA_MAX, arenas))


def trim() -> bool:
    """Return free heap pages to the system; True if any were."""
    return bool(_LIBC.malloc_trim(0)) if _LIBC is not None else False


class IdleTrimmer:
    """Calls ``trim`` once after each busy period, when ``busy()`` has been False for ``quiet_seconds``."""

    def __init__(self, busy: Callable[[], bool], quiet_seconds: float = 2.0, check_seconds: float = 1.0):
        self.busy = busy
        self.quiet_seconds = quiet_seconds
        self.check_seconds = check_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> IdleTrimmer:
        self._thread = threading.Thread(target=self._run, name="memory-trim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        quiet_for, trimmed = 0.0, True
        while not self._stop.wait(self.check_seconds):
            try:
                busy = self.busy()
            except Exception:  # a transient failure to look must not end the thread
                log.debug("idle check failed", exc_info=True)
                continue
            if busy:
                quiet_for, trimmed = 0.0, False
                continue
            quiet_for += self.check_seconds
            if not trimmed and quiet_for >= self.quiet_seconds:
                trim()
                trimmed = True
