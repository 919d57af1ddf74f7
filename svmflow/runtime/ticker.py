"""The embedded runtime's stand-in for Cloud Scheduler: publish a tick to a topic every so often."""

from __future__ import annotations

import logging
import threading

from svmflow import topology
from svmflow.contracts import WebhookTick
from svmflow.messaging import publish
from svmflow.ports import Publisher

log = logging.getLogger(__name__)


class Ticker:
    def __init__(self, publisher: Publisher, seconds: float, topic: str = topology.WEBHOOK_TICKS) -> None:
        self.publisher = publisher
        self.seconds = seconds
        self.topic = topic
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tick-{topic}", daemon=True)

    def start(self) -> Ticker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopped.wait(self.seconds):
            try:
                publish(self.publisher, self.topic, WebhookTick())
            except Exception:  # the next tick tries again; a missed one only delays retries
                log.warning("could not publish a tick", exc_info=True, extra={"topic": self.topic})

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(5)
