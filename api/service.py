"""What the handlers of both APIs share: the few parts of the core they use, and nothing else."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from api.auth import ApiKeys
from api.batch_ids import BatchIds
from svmflow.config import Settings
from svmflow.ports import BlobStore, Publisher, Secrets
from svmflow.read_model import ReadModel

if TYPE_CHECKING:
    from svmflow.bulk.progress import BulkProgressStore
    from svmflow.datasets.served import ServedDataset


@dataclass(frozen=True)
class Backend:
    """The APIs publish, read the read model, and check a bulk file in the bucket.

    The adapters come as providers called on first use, so creating an app opens no connection.
    """

    settings: Settings
    secrets: Secrets
    publisher: Callable[[], Publisher]
    read_model: Callable[[], ReadModel]
    progress: Callable[[], BulkProgressStore]
    bucket: Callable[[], BlobStore]
    dataset: Callable[[], ServedDataset]


@dataclass
class Service:
    backend: Backend
    predict_url: str
    max_body_bytes: int
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("api"))
    api_keys: ApiKeys = field(init=False)
    batch_ids: BatchIds = field(init=False)

    def __post_init__(self) -> None:
        self.api_keys = ApiKeys(self.backend.secrets)
        self.batch_ids = BatchIds(self.backend.secrets)
        self.predict_url = self.predict_url.rstrip("/")

    @property
    def settings(self) -> Settings:
        return self.backend.settings

    @property
    def read_model(self) -> ReadModel:
        return self.backend.read_model()

    @property
    def publisher(self) -> Publisher:
        return self.backend.publisher()

    @property
    def progress(self) -> BulkProgressStore:
        return self.backend.progress()

    @property
    def bucket(self) -> BlobStore:
        return self.backend.bucket()

    @property
    def dataset(self) -> ServedDataset:
        """The data set spec the deployment serves: feature names, classes."""
        return self.backend.dataset()

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
