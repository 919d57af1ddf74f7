"""The Cloud Function entry points: one per row of ``svmflow.topology.FUNCTIONS``, made from the table.

Cloud Functions (``--entry-point NAME``, see infra/) and functions-framework (``--target NAME``) look
the entry point up as an attribute of the source root's ``main.py``, which re-exports these; and
functions-framework takes its signature type from the name it was registered under, so each one is
made under its function's name. Adding a function is one row in the table and one handler module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import functions_framework

from svmflow import telemetry, topology
from svmflow.bootstrap import default_container
from svmflow.errors import PermanentError
from svmflow.runtime.cloud_events import delivery_from_cloud_event

log = logging.getLogger(__name__)


def entry_point(function: str) -> Callable[[Any], None]:
    """The CloudEvent entry point of ``function``; nothing is built until its first event."""

    def run(cloud_event: Any) -> None:
        """Return to acknowledge; raise to have Pub/Sub redeliver."""
        container = default_container()
        telemetry.configure(container.settings)
        processor = container.processor(function)
        try:
            delivery = delivery_from_cloud_event(cloud_event, processor.topic)
        except PermanentError as exc:  # no message to dead-letter: say so and acknowledge
            log.error("unreadable CloudEvent acknowledged: %s", exc, extra={"function": function})
            return
        processor.process(delivery)

    run.__name__ = run.__qualname__ = function
    return functions_framework.cloud_event(run)


globals().update({name: entry_point(name) for name in topology.FUNCTIONS})

__all__ = sorted(topology.FUNCTIONS)
