"""What the handlers of both APIs share, taken from the core's container once per app."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from api.auth import ApiKeys
from api.batch_ids import BatchIds
from svmflow.bootstrap import Container
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel


@dataclass
class Service:
    container: Container
    predict_url: str
    max_body_bytes: int
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("api"))
    api_keys: ApiKeys = field(init=False)
    batch_ids: BatchIds = field(init=False)

    def __post_init__(self) -> None:
        self.api_keys = ApiKeys(self.container.secrets)
        self.batch_ids = BatchIds(self.container.secrets)
        self.predict_url = self.predict_url.rstrip("/")

    # Built on first use by the container, so creating the app opens no connection.
    @property
    def read_model(self) -> ReadModel:
        return self.container.read_model

    @property
    def publisher(self) -> Publisher:
        return self.container.publisher

    def batch_url(self, batch_id: str) -> str:
        return f"{self.predict_url}/v1/batches/{batch_id}"

    def check_ready(self) -> dict[str, str]:
        """One entry per dependency: "ok" or what went wrong."""
        checks: dict[str, str] = {}
        try:
            self.read_model.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"unreachable: {type(exc).__name__}"
        try:
            ready: Any = getattr(self.publisher, "ready", None)
            if ready is not None:
                ready()
            checks["pubsub"] = "ok"
        except Exception as exc:
            checks["pubsub"] = f"unreachable: {type(exc).__name__}"
        return checks
