"""What every function does with its CloudEvent."""

from __future__ import annotations

import logging
from typing import Any

from svmflow import telemetry
from svmflow.bootstrap import default_container
from svmflow.errors import PermanentError
from svmflow.runtime.cloud_events import delivery_from_cloud_event

log = logging.getLogger(__name__)


def run(function: str, cloud_event: Any) -> None:
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
