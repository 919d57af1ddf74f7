"""Runs one handler on one delivery, whatever the transport, with the delivery rules applied.

* The payload is decoded against the topic's contract; a message that does not decode is permanent.
* ``PermanentError`` (and a bad payload): the message goes to the dead-letter topic with the reason, and
  the delivery is acknowledged so it cannot loop.
* Anything else propagates: the transport redelivers with backoff, then dead-letters after its attempts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from svmflow import contracts, telemetry, topology
from svmflow.errors import PermanentError
from svmflow.logs import log_context
from svmflow.messaging import PUBLISH_TIMEOUT_SECONDS, Delivery, EventContext
from svmflow.ports import Publisher

log = logging.getLogger(__name__)


Handler = Callable[[Any, EventContext], None]


@dataclass
class Processor:
    name: str
    topic: str
    # None: the handler takes the delivery as it came (a dead letter need not decode: that may be why
    # it was dead-lettered).
    contract: type[contracts.Contract] | None
    handler: Handler
    publisher: Publisher

    def process(self, delivery: Delivery) -> str:
        """Returns "done" or "dead-lettered"; raises on a transient failure."""
        return telemetry.processing(self.name, self.topic, delivery, self._process)

    def _process(self, delivery: Delivery) -> str:
        context = EventContext(
            delivery.message_id, delivery.attributes, delivery.delivery_attempt, delivery.data
        )
        started = time.perf_counter()
        with log_context(
            function=self.name,
            event_id=delivery.message_id,
            batch_id=context.batch_id,
            traceparent=context.traceparent,
        ):
            try:
                message: Any = (
                    delivery if self.contract is None else contracts.decode(delivery.data, self.contract)
                )
            except (msgspec.ValidationError, msgspec.DecodeError) as exc:
                self._dead_letter(delivery, f"invalid {self.topic} message: {exc}")
                return "dead-lettered"
            # Only the message decides whether it is poison: a handler tripping over stored data
            # (an unreadable object in the bucket, say) is retried like any other failure.
            try:
                self.handler(message, context)
            except PermanentError as exc:
                self._dead_letter(delivery, str(exc))
                return "dead-lettered"
            except Exception:
                log.warning(
                    "transient failure; the message will be redelivered",
                    exc_info=True,
                    extra={"delivery_attempt": delivery.delivery_attempt},
                )
                raise
            log.info("processed", extra={"elapsed_ms": round((time.perf_counter() - started) * 1000, 2)})
            return "done"

    def _dead_letter(self, delivery: Delivery, reason: str) -> None:
        if topology.is_dead_letter_topic(self.topic):
            # A dead letter has nowhere further to go; it stays in the operator's subscription.
            log.error("permanent failure on a dead letter; acknowledged", extra={"error": reason})
            return
        log.error("permanent failure; sent to the dead-letter topic", extra={"error": reason})
        attributes = {
            **delivery.attributes,
            "svmflow_error": (
                "dead-lettered at once, a permanent failure that is not retried until replayed "
                f"(`svmflow dead-letters replay`): {reason}"
            )[:1000],
            "svmflow_function": self.name,
            "svmflow_source_message_id": delivery.message_id,
        }
        self.publisher.publish(topology.dead_letter_topic(self.topic), delivery.data, attributes).result(
            timeout=PUBLISH_TIMEOUT_SECONDS
        )
