"""Traces and metrics with OpenTelemetry, off by default (``SVMFLOW_TELEMETRY``).

Off, nothing of OpenTelemetry is imported (its SDK takes a few hundred milliseconds to import, which a
function's cold start would pay for nothing) and every hook below is one ``None`` check. On, the
process gets its own tracer and meter providers (see ``svmflow.telemetry.sdk``):

* a batch's journey is one trace: the ingest request's span is the parent of the message's W3C
  ``traceparent`` attribute, each function's processing is a child of the message it received, and
  what a function publishes is a child of its processing;
* the service metrics: requests and their latency per API, route and status; batches and records
  predicted per model version and class; the age of the oldest batch still pending; dead letters.

The hooks are ``api.telemetry`` (the APIs' middleware), ``Processor.process`` and
``svmflow.messaging.publish``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from svmflow.config import Settings

if TYPE_CHECKING:
    from svmflow import contracts
    from svmflow.telemetry.sdk import Delivery, Telemetry

D = TypeVar("D", bound="Delivery")

_active: Telemetry | None = None


def wanted(settings: Settings) -> bool:
    return settings.telemetry != "off" or settings.metrics_prometheus


def configure(settings: Settings, **for_tests: Any) -> Telemetry | None:
    """The process's telemetry, set up on first call as ``settings`` say; later calls return it as is.

    ``for_tests`` (``span_exporter``, ``metric_reader``) are handed to ``Telemetry``, and turn it on
    whatever the settings say."""
    global _active
    if _active is None and (wanted(settings) or for_tests):
        from svmflow.telemetry.sdk import Telemetry

        _active = Telemetry(settings, **for_tests)
    return _active


def active() -> Telemetry | None:
    return _active


def shutdown() -> None:
    """Flush what is buffered and turn telemetry off (on exit, and between tests)."""
    global _active
    if _active is not None:
        _active.shutdown()
        _active = None


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the span in progress, to carry into a message; None when off."""
    return None if _active is None else _active.current_traceparent()


def published(topic: str, message: contracts.Contract) -> None:
    """Count what a message says was predicted."""
    if _active is not None:
        _active.published(topic, message)


def processing(function: str, topic: str, delivery: D, process: Callable[[D], str]) -> str:
    """``process(delivery)`` in a span that continues the message's trace, with its outcome counted."""
    if _active is None:
        return process(delivery)
    return _active.processing(function, topic, delivery, process)
