"""The one place that wires adapters to handlers, by mode.

Nothing is built at import time: each dependency is created on first use and then reused, so a Cloud
Function instance opens its connections once, and only those its own handler needs. A handler names
what it needs by its keyword parameters; ``Container.processor`` passes it the dependency of that
name (the container's attributes marked ``@dependency``), and nothing else is built.
"""

from __future__ import annotations

import inspect
import os
import threading
from collections.abc import Callable
from functools import partial
from importlib import import_module
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from svmflow import contracts, logs, topology
from svmflow.config import Settings
from svmflow.domain.gate import GatePolicy
from svmflow.domain.sequential import WatchPolicy
from svmflow.messaging import DeadLetters, EventContext
from svmflow.model_registry import ModelRegistry, ModelServer, SpecBinding
from svmflow.ports import BlobStore, Publisher, Secrets
from svmflow.runtime.processor import Processor

if TYPE_CHECKING:
    import fakeredis
    import redis

    from svmflow.bulk.progress import BulkProgressStore
    from svmflow.datasets.served import ServedDataset
    from svmflow.db.database import Database
    from svmflow.handlers.drift_monitor import DriftOptions, ReferenceProfiles
    from svmflow.handlers.training import TrainingOptions
    from svmflow.read_model import ReadModel
    from svmflow.runtime.embedded_bus import EmbeddedBus
    from svmflow.webhook_deliveries import Sender

T = TypeVar("T")


class _Dependency(Generic[T]):
    """A container attribute built on first use, once per container even when threads race for it.

    A value handed to ``Container(...)`` under its name is used instead (tests replace adapters so).
    """

    def __init__(self, build: Callable[[Container], T]) -> None:
        self._build = build
        self.__doc__ = build.__doc__
        self.name = build.__name__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, container: None, owner: type | None = None) -> _Dependency[T]: ...
    @overload
    def __get__(self, container: Container, owner: type | None = None) -> T: ...
    def __get__(self, container: Container | None, owner: type | None = None) -> T | _Dependency[T]:
        if container is None:
            return self
        built = container.__dict__
        if self.name not in built:
            with container._lock:
                if self.name not in built:
                    built[self.name] = self._build(container)
        return built[self.name]  # type: ignore[no-any-return]  # stored under this descriptor's name


def dependency(build: Callable[[Container], T]) -> _Dependency[T]:
    return _Dependency(build)


class Container:
    """Dependencies for one process. Pass any of them in by name to replace the mode's default."""

    def __init__(self, settings: Settings, **provided: Any) -> None:
        unknown = sorted(provided.keys() - self.dependency_names())
        if unknown:
            raise TypeError(f"not dependencies of the container: {', '.join(unknown)}")
        self.settings = settings
        self._lock = threading.RLock()
        self._processors: dict[str, Processor] = {}
        self.__dict__.update(provided)

    @classmethod
    def dependency_names(cls) -> set[str]:
        return {name for name, value in vars(cls).items() if isinstance(value, _Dependency)}

    # -- adapters ----------------------------------------------------------------------------

    @dependency
    def secrets(self) -> Secrets:
        if self.settings.mode == "gcp" or self.settings.secret_manager_endpoint:
            from svmflow.adapters.secrets import SecretManagerSecrets, make_secret_manager_client

            return SecretManagerSecrets(
                make_secret_manager_client(self.settings.secret_manager_endpoint),
                self.settings.project,
                self.settings.secret_prefix,
            )
        from svmflow.adapters.secrets import EnvSecrets

        return EnvSecrets()

    @dependency
    def db(self) -> Database:
        from svmflow.db.database import Database, make_engine

        url = self.settings.effective_database_url
        password = None if url.startswith("sqlite") else self.secrets.get("db-password") or None
        database = Database(make_engine(url, password=password, pool_size=self.settings.db_pool_size))
        # In gcp mode the migrate job owns the schema (svmflow migrate) and the components'
        # database role may not create tables; elsewhere the tables are created at start.
        if self.settings.mode != "gcp":
            database.create_schema()
        return database

    @dependency
    def fake_redis_server(self) -> fakeredis.FakeServer:
        from svmflow.adapters.fake_redis import fakeredis_module

        server: fakeredis.FakeServer = fakeredis_module().FakeServer()
        return server

    @dependency
    def redis(self) -> redis.Redis:
        if self.settings.redis_url:
            import redis

            return redis.Redis.from_url(
                self.settings.redis_url,
                socket_timeout=5,
                socket_connect_timeout=5,
                health_check_interval=30,
                retry_on_timeout=False,
            )
        from svmflow.adapters.fake_redis import fakeredis_module

        fakeredis = fakeredis_module()

        client: redis.Redis = fakeredis.FakeRedis(server=self.fake_redis_server)
        return client

    @dependency
    def read_model(self) -> ReadModel:
        from svmflow.read_model import ReadModel

        s = self.settings
        return ReadModel(
            self.redis,
            s.cache_prefix,
            ttl_seconds=s.cache_ttl_seconds,
            index_size=s.cache_index_size,
            jobs_size=s.cache_jobs_size,
        )

    @dependency
    def progress(self) -> BulkProgressStore:
        """Where bulk jobs count their chunks."""
        from svmflow.bulk.progress import BulkProgressStore

        return BulkProgressStore(self.redis, self.settings.cache_prefix, self.settings.cache_ttl_seconds)

    @dependency
    def bus(self) -> EmbeddedBus:
        """The embedded bus (embedded mode only)."""
        from svmflow.runtime.embedded_bus import EmbeddedBus

        return EmbeddedBus(
            self.settings.bus_path,
            max_attempts=self.settings.max_delivery_attempts,
            ack_deadline=self.settings.embedded_ack_deadline_seconds,
        )

    @dependency
    def publisher(self) -> Publisher:
        if self.settings.mode == "embedded":
            return self.bus
        # Not `from google.cloud import pubsub_v1`: mypy misreads that attribute of the namespace package.
        import google.cloud.pubsub_v1 as pubsub_v1

        from svmflow.adapters.pubsub import PubSubPublisher

        self._point_at_emulator()
        # Publishes are awaited one by one, so waiting to fill a batch would only add latency.
        batching = pubsub_v1.types.BatchSettings(max_latency=0.001)
        return PubSubPublisher(pubsub_v1.PublisherClient(batching), self.settings.project)

    def _point_at_emulator(self) -> None:
        if self.settings.pubsub_emulator_host:
            os.environ["PUBSUB_EMULATOR_HOST"] = self.settings.pubsub_emulator_host

    @dependency
    def dead_letters(self) -> DeadLetters:
        if self.settings.mode == "embedded":
            return self.bus
        import google.cloud.pubsub_v1 as pubsub_v1

        from svmflow.adapters.pubsub import PubSubDeadLetters

        self._point_at_emulator()
        return PubSubDeadLetters(pubsub_v1.SubscriberClient(), self.publisher, self.settings.project)

    @dependency
    def bucket(self) -> BlobStore:
        if self.settings.mode == "embedded" and not self.settings.storage_endpoint:
            from svmflow.adapters.local_bucket import LocalBucket

            return LocalBucket(self.settings.bucket_dir)
        from svmflow.adapters.gcs_bucket import GcsBucket, make_client

        client = make_client(self.settings.project, self.settings.storage_endpoint)
        return GcsBucket(client, self.settings.model_bucket)

    @dependency
    def registry(self) -> ModelRegistry:
        return ModelRegistry(self.bucket)

    @dependency
    def dataset(self) -> ServedDataset:
        """The data set spec this deployment serves (``SVMFLOW_DATASET_SPEC``)."""
        from svmflow.datasets.served import ServedDataset

        return ServedDataset.load(self.settings.dataset_spec)

    @dependency
    def models(self) -> ModelServer:
        """The production model, as the prediction function serves it: only a version trained for the
        served spec (its ``model_digest``) is ever served."""
        dataset = self.dataset
        return ModelServer(
            self.registry,
            self.settings.model_refresh_seconds,
            binding=SpecBinding(
                dataset.name, dataset.model_digest, dataset.feature_names, dataset.class_names
            ),
        )

    # -- options from the settings ------------------------------------------------------------

    @dependency
    def options(self) -> TrainingOptions:
        """How training fits, evaluates and gates a challenger."""
        from svmflow.handlers.training import TrainingOptions

        s = self.settings
        dataset = self.dataset
        gate = dataset.spec.gate  # the spec's own gate settings, where it has them
        return TrainingOptions(
            policy=GatePolicy(
                accuracy_floor=_first(gate.accuracy_floor, s.gate_accuracy_floor),
                seed_tolerance=_first(gate.seed_tolerance, s.gate_seed_tolerance),
                recall_floor=_first(gate.recall_floor, s.gate_recall_floor),
                alpha=s.gate_alpha,
                margin=s.gate_margin,
                window=s.gate_window,
                min_window=s.gate_min_window,
                minority_share=s.gate_imbalance_share,
            ),
            feedback_weight=s.feedback_weight,
            lease_seconds=s.training_lease_seconds,
            metric=_first(gate.metric, s.gate_metric),
            imbalance_share=s.gate_imbalance_share,
            class_weight="balanced" if s.class_weight == "balanced" else "none",
            c_grid=s.c_values,
            cv_folds=s.cv_folds,
            outlier_iqr=s.quarantine_iqr,
            retrain_min_labels=s.retrain_floor_new_labels,
            retrain_max_labels=s.retrain_max_new_labels,
            feature_names=dataset.feature_names,
            class_names=dataset.class_names,
            model_digest=dataset.model_digest,
            shadow_records=s.shadow_records,
        )

    @dependency
    def watch(self) -> WatchPolicy | None:
        """The automatic rollback's test, or None when it is off."""
        s = self.settings
        if not s.auto_rollback:
            return None
        return WatchPolicy(
            drop=s.auto_rollback_drop, alpha=s.auto_rollback_alpha, max_labels=s.auto_rollback_labels
        )

    @dependency
    def webhook_sender(self) -> Sender:
        """How completion webhooks are sent: signing secrets, the SSRF policy, TLS trust, the schedule."""
        from svmflow.webhook_deliveries import Sender, tls_context
        from svmflow.webhooks.urls import policy_for

        s = self.settings
        return Sender(
            secrets=self.secrets,
            policy=policy_for(s.webhook_allowances),
            retry_scale=s.webhook_retry_scale,
            timeout_seconds=s.webhook_timeout_seconds,
            tls=tls_context(s.webhook_ca_file),
        )

    @dependency
    def min_new_labels(self) -> int:
        return self.settings.retrain_min_new_labels

    @dependency
    def holdout_percent(self) -> int:
        if self.settings.is_set("holdout_percent"):
            return self.settings.holdout_percent
        return self.dataset.spec.holdout_percent

    @dependency
    def max_wait_seconds(self) -> float:
        return self.settings.retrain_max_wait_seconds

    @dependency
    def chunk_rows(self) -> int:
        """Rows per prediction request a bulk file is split into."""
        return self.settings.bulk_chunk_rows

    @dependency
    def drift_options(self) -> DriftOptions:
        """Input drift: the window, the threshold and whether a drifted window asks for a retraining."""
        from svmflow.handlers.drift_monitor import DriftOptions

        s = self.settings
        return DriftOptions(s.drift_window, s.drift_alpha, s.drift_retrain)

    @dependency
    def drift_references(self) -> ReferenceProfiles:
        """Each model version's reference profile, read from its artifact once per process."""
        from svmflow.handlers.drift_monitor import ReferenceProfiles

        return ReferenceProfiles(self.registry)

    # -- processors --------------------------------------------------------------------------

    def bind(self, function: topology.Function) -> Callable[[Any, EventContext], Any]:
        """``function``'s handler with its keyword parameters bound to the dependencies so named.

        The handler module is imported here, so a function's cold start loads only its own handler.
        A parameter with a default and no dependency of its name keeps its default.
        """
        handle = import_module(function.handler).handle
        # The first two parameters are the message and its context; the rest are dependencies.
        wanted = list(inspect.signature(handle).parameters.values())[2:]
        known = self.dependency_names()
        missing = [p.name for p in wanted if p.name not in known and p.default is inspect.Parameter.empty]
        if missing:
            raise TypeError(f"{function.handler}.handle needs {', '.join(missing)}: no such dependency")
        return partial(handle, **{p.name: getattr(self, p.name) for p in wanted if p.name in known})

    def processor(self, name: str) -> Processor:
        if name not in topology.FUNCTIONS:
            raise KeyError(f"unknown function {name!r}; known: {sorted(topology.FUNCTIONS)}")
        with self._lock:
            if name not in self._processors:
                function = topology.FUNCTIONS[name]
                self._processors[name] = Processor(
                    name=name,
                    topic=function.topic,
                    contract=contracts.MESSAGE_TYPES.get(function.topic),
                    handler=self.bind(function),
                    publisher=self.publisher,
                )
            return self._processors[name]

    def subscribe_all(self, bus: EmbeddedBus, names: list[str] | None = None) -> None:
        """Attach processors to the embedded bus, each through its own subscription."""
        for name in names or list(topology.FUNCTIONS):
            bus.subscribe(topology.subscription_name(name), self.processor(name).process)


def _first(value: T | None, default: T) -> T:
    return default if value is None else value


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
