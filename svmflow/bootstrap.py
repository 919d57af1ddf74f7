"""The one place that wires adapters to handlers, by mode.

Nothing is built at import time: each dependency is created on first use and then reused, so a Cloud
Function instance opens its connections once, and only those its own handler needs.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING, Any, TypeVar

from svmflow import contracts, logs, topology
from svmflow.config import Settings
from svmflow.domain.gate import GatePolicy
from svmflow.model_registry import ModelRegistry, ModelServer
from svmflow.ports import BlobStore, Publisher, Secrets
from svmflow.runtime.processor import Processor

if TYPE_CHECKING:
    from svmflow.bulk.progress import BulkProgressStore
    from svmflow.db.database import Database
    from svmflow.handlers.training import TrainingOptions
    from svmflow.read_model import ReadModel
    from svmflow.webhooks.outbox import Sender

T = TypeVar("T")


class Container:
    """Dependencies for one process. Pass any of them in to replace the mode's default (tests do)."""

    def __init__(self, settings: Settings, **provided: Any) -> None:
        self.settings = settings
        self._built: dict[str, Any] = dict(provided)
        self._lock = threading.RLock()
        self._processors: dict[str, Processor] = {}

    def _get(self, name: str, factory: Callable[[], T]) -> T:
        try:
            return self._built[name]  # type: ignore[no-any-return]
        except KeyError:
            pass
        with self._lock:
            if name not in self._built:
                self._built[name] = factory()
            return self._built[name]  # type: ignore[no-any-return]

    # -- adapters ----------------------------------------------------------------------------

    @property
    def secrets(self) -> Secrets:
        def build() -> Secrets:
            if self.settings.mode == "gcp" or self.settings.secret_manager_endpoint:
                from svmflow.adapters.secrets import SecretManagerSecrets, make_secret_manager_client

                return SecretManagerSecrets(
                    make_secret_manager_client(self.settings.secret_manager_endpoint),
                    self.settings.project,
                    self.settings.secret_prefix,
                )
            from svmflow.adapters.secrets import EnvSecrets

            return EnvSecrets()

        return self._get("secrets", build)

    @property
    def db(self) -> Database:
        def build() -> Database:
            from svmflow.db.database import Database, make_engine

            url = self.settings.effective_database_url
            password = None if url.startswith("sqlite") else self.secrets.get("db-password") or None
            database = Database(make_engine(url, password=password, pool_size=self.settings.db_pool_size))
            # In gcp mode the migrate job owns the schema (svmflow migrate) and the components'
            # database role may not create tables; elsewhere the tables are created at start.
            if self.settings.mode != "gcp":
                database.create_schema()
            return database

        return self._get("db", build)

    @property
    def redis(self) -> Any:
        def build() -> Any:
            if self.settings.redis_url:
                import redis

                return redis.Redis.from_url(
                    self.settings.redis_url,
                    socket_timeout=5,
                    socket_connect_timeout=5,
                    health_check_interval=30,
                    retry_on_timeout=False,
                )
            import fakeredis

            return fakeredis.FakeRedis(server=self._get("fake_redis_server", fakeredis.FakeServer))

        return self._get("redis", build)

    @property
    def read_model(self) -> ReadModel:
        from svmflow.read_model import ReadModel

        s = self.settings
        return self._get(
            "read_model",
            lambda: ReadModel(
                self.redis,
                s.cache_prefix,
                ttl_seconds=s.cache_ttl_seconds,
                index_size=s.cache_index_size,
                jobs_size=s.cache_jobs_size,
            ),
        )

    @property
    def bulk_progress(self) -> BulkProgressStore:
        from svmflow.bulk.progress import BulkProgressStore

        s = self.settings
        return self._get(
            "bulk_progress", lambda: BulkProgressStore(self.redis, s.cache_prefix, s.cache_ttl_seconds)
        )

    @property
    def bus(self) -> Any:
        """The embedded bus (embedded mode only)."""

        def build() -> Any:
            from svmflow.runtime.embedded_bus import EmbeddedBus

            return EmbeddedBus(self.settings.bus_path, max_attempts=self.settings.max_delivery_attempts)

        return self._get("bus", build)

    @property
    def publisher(self) -> Publisher:
        def build() -> Publisher:
            if self.settings.mode == "embedded":
                return self.bus  # type: ignore[no-any-return]
            from google.cloud import pubsub_v1

            from svmflow.adapters.pubsub import PubSubPublisher

            self._point_at_emulator()
            # Publishes are awaited one by one, so waiting to fill a batch would only add latency.
            batching = pubsub_v1.types.BatchSettings(max_latency=0.001)
            return PubSubPublisher(pubsub_v1.PublisherClient(batching), self.settings.project)

        return self._get("publisher", build)

    def _point_at_emulator(self) -> None:
        if self.settings.pubsub_emulator_host:
            os.environ["PUBSUB_EMULATOR_HOST"] = self.settings.pubsub_emulator_host

    @property
    def dead_letters(self) -> Any:
        def build() -> Any:
            if self.settings.mode == "embedded":
                return self.bus
            from google.cloud import pubsub_v1

            from svmflow.adapters.pubsub import PubSubDeadLetters

            self._point_at_emulator()
            return PubSubDeadLetters(pubsub_v1.SubscriberClient(), self.publisher, self.settings.project)  # type: ignore[arg-type]

        return self._get("dead_letters", build)

    @property
    def bucket(self) -> BlobStore:
        def build() -> BlobStore:
            if self.settings.mode == "embedded" and not self.settings.storage_endpoint:
                from svmflow.adapters.local_bucket import LocalBucket

                return LocalBucket(self.settings.bucket_dir)
            from svmflow.adapters.gcs_bucket import GcsBucket, make_client

            client = make_client(self.settings.project, self.settings.storage_endpoint)
            return GcsBucket(client, self.settings.model_bucket)

        return self._get("bucket", build)

    @property
    def registry(self) -> ModelRegistry:
        return self._get("registry", lambda: ModelRegistry(self.bucket))

    @property
    def model_server(self) -> ModelServer:
        return self._get(
            "model_server", lambda: ModelServer(self.registry, self.settings.model_refresh_seconds)
        )

    @property
    def training_options(self) -> TrainingOptions:
        from svmflow.handlers.training import TrainingOptions

        s = self.settings
        return TrainingOptions(
            policy=GatePolicy(
                accuracy_floor=s.gate_accuracy_floor,
                seed_tolerance=s.gate_seed_tolerance,
                recall_floor=s.gate_recall_floor,
                alpha=s.gate_alpha,
                margin=s.gate_margin,
                window=s.gate_window,
                min_window=s.gate_min_window,
                minority_share=s.gate_imbalance_share,
            ),
            feedback_weight=s.feedback_weight,
            lease_seconds=s.training_lease_seconds,
            metric=s.gate_metric,
            imbalance_share=s.gate_imbalance_share,
            class_weight="balanced" if s.class_weight == "balanced" else "none",
            c_grid=s.c_values,
            cv_folds=s.cv_folds,
            outlier_iqr=s.quarantine_iqr,
            retrain_min_labels=s.retrain_floor_new_labels,
            retrain_max_labels=s.retrain_max_new_labels,
        )

    @property
    def webhook_sender(self) -> Sender:
        def build() -> Sender:
            from svmflow.webhooks.outbox import Sender, tls_context
            from svmflow.webhooks.urls import UrlPolicy

            s = self.settings
            allowed = s.webhook_allowances
            return Sender(
                secrets=self.secrets,
                policy=UrlPolicy(allow_loopback="loopback" in allowed, allow_private="private" in allowed),
                retry_scale=s.webhook_retry_scale,
                timeout_seconds=s.webhook_timeout_seconds,
                tls=tls_context(s.webhook_ca_file),
            )

        return self._get("webhook_sender", build)

    # -- processors --------------------------------------------------------------------------

    def _dependencies(self, name: str) -> dict[str, Any]:
        """Each handler's named dependencies; only these are built in a process that runs it."""
        s = self.settings
        if name == "prediction":
            return {"models": self.model_server, "publisher": self.publisher}
        if name in ("prediction_to_cache", "training_to_cache"):
            return {"read_model": self.read_model}
        if name in ("prediction_to_db", "feedback_to_db", "training_to_db"):
            return {"db": self.db}
        if name == "feedback_to_performance":
            return {"db": self.db, "read_model": self.read_model}
        if name == "feedback_to_training":
            return {
                "db": self.db,
                "publisher": self.publisher,
                "min_new_labels": s.retrain_min_new_labels,
                "holdout_percent": s.holdout_percent,
                "max_wait_seconds": s.retrain_max_wait_seconds,
            }
        if name == "rollback":
            return {"registry": self.registry, "publisher": self.publisher}
        if name == "training":
            return {
                "db": self.db,
                "registry": self.registry,
                "publisher": self.publisher,
                "options": self.training_options,
            }
        if name == "bulk_split":
            return {
                "bucket": self.bucket,
                "registry": self.registry,
                "publisher": self.publisher,
                "progress": self.bulk_progress,
                "chunk_rows": s.bulk_chunk_rows,
            }
        if name == "prediction_dead_letters":
            return {"db": self.db, "read_model": self.read_model}
        if name == "dead_letter_replay":
            return {"dead_letters": self.dead_letters, "db": self.db, "read_model": self.read_model}
        if name == "bulk_results":
            return {"bucket": self.bucket, "progress": self.bulk_progress}
        if name in ("batch_done_webhooks", "batch_failed_webhooks", "webhook_retries"):
            return {"db": self.db, "read_model": self.read_model, "sender": self.webhook_sender}
        raise KeyError(name)

    def _bind(self, name: str) -> Callable[..., Any]:
        # Imported on demand so a function's cold start loads only its own handler's libraries.
        module = import_module(f"svmflow.handlers.{name}")
        return partial(module.handle, **self._dependencies(name))

    def processor(self, name: str) -> Processor:
        if name not in topology.FUNCTIONS:
            raise KeyError(f"unknown function {name!r}; known: {sorted(topology.FUNCTIONS)}")
        with self._lock:
            if name not in self._processors:
                topic = topology.FUNCTIONS[name][0]
                self._processors[name] = Processor(
                    name=name,
                    topic=topic,
                    contract=contracts.MESSAGE_TYPES.get(topic),
                    handler=self._bind(name),
                    publisher=self.publisher,
                )
            return self._processors[name]

    def subscribe_all(self, bus: Any, names: list[str] | None = None) -> None:
        """Attach processors to the embedded bus, each through its own subscription."""
        for name in names or list(topology.FUNCTIONS):
            bus.subscribe(topology.subscription_name(name), self.processor(name).process)


_default: Container | None = None
_default_lock = threading.Lock()


def default_container() -> Container:
    """The process-wide container, from the environment, built on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                settings = Settings.from_env()
                logs.configure(settings.log_level, settings.project)
                _default = Container(settings)
    return _default
