from __future__ import annotations

import json
import logging

from svmflow import logs
from svmflow.logs import CloudLoggingFormatter, log_context, parse_traceparent

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def record(message: str, **extra: object) -> logging.LogRecord:
    item = logging.makeLogRecord({"name": "t", "levelname": "WARNING", "levelno": 30, "msg": message})
    item.__dict__.update(extra)
    return item


def test_cloud_logging_fields_and_context(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(logs, "_project", "proj")
    with log_context(batch_id="b-1", traceparent=TRACEPARENT, function="prediction"):
        entry = json.loads(CloudLoggingFormatter().format(record("hello", elapsed_ms=3.5)))
    assert entry["severity"] == "WARNING"
    assert entry["message"] == "hello"
    assert entry["logging.googleapis.com/trace"] == "projects/proj/traces/4bf92f3577b34da6a3ce929d0e0e4736"
    assert entry["logging.googleapis.com/spanId"] == "00f067aa0ba902b7"
    assert (entry["batch_id"], entry["function"], entry["elapsed_ms"]) == ("b-1", "prediction", 3.5)


def test_context_does_not_leak() -> None:
    with log_context(batch_id="inner"):
        pass
    assert "batch_id" not in json.loads(CloudLoggingFormatter().format(record("x")))


def test_malformed_traceparent_is_ignored() -> None:
    assert parse_traceparent("garbage") is None
    assert parse_traceparent(None) is None
    assert parse_traceparent(TRACEPARENT) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


def test_exceptions_carry_the_stack() -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        import sys

        item = record("failed")
        item.exc_info = sys.exc_info()
    assert "RuntimeError: boom" in json.loads(CloudLoggingFormatter().format(item))["stack_trace"]
