"""Structured JSON logs in the shape Cloud Logging reads from stdout.

``severity``, ``message`` and ``logging.googleapis.com/trace`` are picked up by Cloud Logging; the batch id
and the other context fields ride along so one batch can be followed from ingest to Postgres.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("svmflow_log", default={})  # noqa: B039
_project: str = ""

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def parse_traceparent(value: str | None) -> tuple[str, str] | None:
    """W3C ``traceparent`` -> (trace id, span id), or None when absent or malformed."""
    if not value:
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    return parts[1], parts[2]


@contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Attach fields (batch_id, traceparent, function, ...) to every log line in this block."""
    merged = {**_context.get(), **{k: v for k, v in fields.items() if v}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class CloudLoggingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        context = dict(_context.get())
        trace = parse_traceparent(context.pop("traceparent", None))
        if trace:
            trace_id, span_id = trace
            entry["logging.googleapis.com/trace"] = (
                f"projects/{_project}/traces/{trace_id}" if _project else trace_id
            )
            entry["logging.googleapis.com/spanId"] = span_id
        entry.update(context)
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# StreamHandler is generic in typeshed only: StreamHandler[TextIO] fails at run time.
class _StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stdout`` is now, so a redirected stdout still gets the logs."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _: Any) -> None:
        pass


def configure(level: str = "INFO", project: str = "") -> None:
    """Send JSON lines to stdout; safe to call more than once."""
    global _project
    _project = project
    root = logging.getLogger()
    if not any(isinstance(h.formatter, CloudLoggingFormatter) for h in root.handlers):
        handler = _StdoutHandler()
        handler.setFormatter(CloudLoggingFormatter())
        root.addHandler(handler)
    root.setLevel(level.upper())
    # One line per HTTP request at INFO would drown the product's own lines (the CLI's client calls).
    for chatty in ("httpx2", "httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
