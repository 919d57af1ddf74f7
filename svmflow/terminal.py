"""A one-line progress bar for the command line: rows done of the total, rate and ETA.

Hand-written (a carriage return and one line) rather than a dependency: the CLI needs one bar, and
the deployable package stays as small as it is. When the output is not a terminal (a log, CI), it
prints a plain line at most every ``log_every`` seconds instead of redrawing.
"""

from __future__ import annotations

import shutil
import sys
import time
from typing import TextIO


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def render(done: int, total: int | None, rate: float | None, eta: float | None, width: int = 80) -> str:
    counts = f"{done:,}/{total:,} rows" if total is not None else f"{done:,} rows"
    speed = f"{rate:,.0f} rows/s" if rate else "- rows/s"
    tail = f" {counts}  {speed}  ETA {_duration(eta)}"
    if total:
        share = min(done / total, 1.0)
        head = f"{share * 100:5.1f}% "
        bar_width = max(10, width - len(head) - len(tail) - 2)
        filled = int(bar_width * share)
        return f"{head}[{'#' * filled}{'-' * (bar_width - filled)}]{tail}"
    return tail.strip()


class ProgressBar:
    def __init__(self, stream: TextIO | None = None, log_every: float = 5.0) -> None:
        self.stream = stream or sys.stderr
        self.interactive = self.stream.isatty()
        self.log_every = log_every
        self._last_log = float("-inf")
        self._drawn = False

    def update(self, done: int, total: int | None, rate: float | None, eta: float | None) -> None:
        if self.interactive:
            width = shutil.get_terminal_size((80, 20)).columns - 1
            self.stream.write("\r" + render(done, total, rate, eta, width).ljust(width))
            self._drawn = True
        elif time.monotonic() - self._last_log >= self.log_every:
            self.stream.write(render(done, total, rate, eta) + "\n")
            self._last_log = time.monotonic()
        self.stream.flush()

    def close(self, done: int, total: int | None, rate: float | None) -> None:
        """Draw the final state once, and end the line."""
        if self.interactive:
            self.update(done, total, rate, 0.0)
            self.stream.write("\n")
        else:
            self.stream.write(render(done, total, rate, 0.0) + "\n")
        self.stream.flush()
