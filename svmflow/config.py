"""Typed settings, read once from the environment (``SVMFLOW_*``).

Three modes share one set of handlers; only the adapters differ:

* ``embedded``: durable in-process bus in a SQLite file, fakeredis, SQLite, a local folder bucket.
* ``emulated``: the Pub/Sub emulator, real Redis and Postgres, fake-gcs-server.
* ``gcp``: Pub/Sub, Memorystore, Cloud SQL, Cloud Storage, Secret Manager.

Each setting is declared once below: its type, its default, its bounds and its description, from which the
README's configuration table is generated (``python -m svmflow.config_table``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars

Mode = Literal["embedded", "emulated", "gcp"]
GateMetric = Literal["auto", "accuracy", "balanced_accuracy", "macro_f1"]
ClassWeight = Literal["none", "balanced"]
TelemetryExport = Literal["off", "console", "otlp", "gcp"]

ENV_PREFIX = "SVMFLOW_"
SEED_DATA = Path(__file__).resolve().parent.parent / "data" / "banknote.csv"
DEFAULT_DATASET_SPEC = SEED_DATA.with_name("banknote.toml")


class ConfigError(ValueError):
    """A setting is missing or malformed."""


def _shown(default: str) -> dict[str, Any]:
    """The default as the README shows it, for settings whose default is derived or machine-specific."""
    return {"shown_default": default}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, frozen=True, extra="forbid", validate_by_name=True, validate_default=True
    )

    mode: Mode = Field(default="embedded", description="`embedded`, `emulated` or `gcp`")
    state_dir: Path = Field(
        default=Path(".svmflow"),
        description="embedded mode: SQLite file, bus, local bucket; "
        "`svmflow evaluate` writes its reports under `evaluation/` here",
    )
    api_host: str = Field(
        default="127.0.0.1",
        description="address `make run` serves both APIs on (`0.0.0.0` for every interface)",
    )
    ingest_port: int = Field(
        default=8080,
        ge=0,
        le=65535,
        description="ingest API port (`make run`, `make run-emulated`, `svmflow demo`)",
    )
    predict_port: int = Field(default=8081, ge=0, le=65535, description="predict API port (same)")
    embedded_redis_port: int = Field(
        default=6390,
        ge=0,
        le=65535,
        description="`make run`'s Redis stand-in on 127.0.0.1, which the CLI reaches (`rebuild-cache`)",
    )
    # Empty means "derive from the mode" (see the properties below).
    predict_url: str = Field(
        default="",
        description="the predict API's public address, for the ingest API's `Location` header "
        "(the Cloud Run URL in production)",
        json_schema_extra=_shown("`http://API_HOST:PREDICT_PORT`"),
    )
    log_level: str = Field(
        default="INFO", description="`DEBUG`, `INFO`, `WARNING`, `ERROR`; logs are JSON lines"
    )
    # Traces and metrics (svmflow/telemetry).
    telemetry: TelemetryExport = Field(
        default="off",
        description="OpenTelemetry traces and metrics: `off`, `console`, `otlp` (to "
        "`OTEL_EXPORTER_OTLP_ENDPOINT`, extra `svmflow[otlp]`) or `gcp` (Cloud Trace and Cloud "
        "Monitoring, extra `svmflow[gcp-telemetry]`); one batch is one trace from its POST to its poll",
    )
    metrics_prometheus: bool = Field(
        default=False,
        description="`on`: both APIs serve the process's metrics at `GET /metrics` in Prometheus text "
        "format (no API key: keep it local)",
        json_schema_extra=_shown("`off`"),
    )
    project: str = Field(default="svmflow-local", description="Google Cloud project (topics, secrets)")
    database_url: str = Field(
        default="",
        description="e.g. `postgresql+psycopg://svmflow@10.0.0.3:5432/svmflow`; the password comes from "
        "the `db-password` secret; `make run-emulated`: the machine's "
        "`postgresql+psycopg://postgres@127.0.0.1:5432/svmflow`",
        json_schema_extra=_shown("SQLite in the state dir"),
    )
    db_pool_size: int = Field(default=5, ge=1, description="database connections per process")
    redis_url: str = Field(
        default="",
        description="e.g. `redis://10.0.0.4:6379/0`; `make run-emulated`: the machine's "
        "`redis://127.0.0.1:6379/0`; unset, embedded mode needs the `embedded` extra (`make install`)",
        json_schema_extra=_shown("in-process fakeredis"),
    )
    cache_prefix: str = Field(default="svmflow:", description="prefix of every Redis key")
    cache_ttl_seconds: int = Field(
        default=7 * 24 * 3600, ge=1, description="how long a batch stays in the read model (7 days)"
    )
    cache_index_size: int = Field(
        default=10_000, ge=1, description="batches the listing (`GET /v1/batches`) keeps"
    )
    cache_jobs_size: int = Field(default=200, ge=1, description="training jobs the read model keeps")
    model_bucket: str = Field(
        default="svmflow-models", description="bucket name (a folder under the state dir in embedded mode)"
    )
    storage_endpoint: str = Field(
        default="", description="a Cloud Storage API to use instead of Google's (fake-gcs-server)"
    )
    pubsub_emulator_host: str = Field(
        default="",
        # The client libraries' own variable is honoured too, so one export serves both.
        validation_alias=AliasChoices(f"{ENV_PREFIX}PUBSUB_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST"),
        description="host:port of the Pub/Sub emulator",
        json_schema_extra=_shown("`PUBSUB_EMULATOR_HOST`"),
    )
    ingest_url: str = Field(
        default="",
        description="the ingest API's public address, where the console sends batches",
        json_schema_extra=_shown("`http://<api host>:<ingest port>`"),
    )
    console_origins: str = Field(
        default="",
        description="more browser origins allowed to call the ingest API, comma separated",
        json_schema_extra=_shown("(none)"),
    )
    webhook_allow: str = Field(
        default="",
        description="callback addresses allowed besides public ones: `loopback` and/or `private` "
        "(comma separated; tests and private deployments only)",
        json_schema_extra=_shown("(none)"),
    )
    webhook_key_urls: str = Field(
        default="",
        description="default callback URL per API key for batches naming none: space-separated "
        "`IDENTITY=URL`, IDENTITY the first 32 hex digits of the key's SHA-256",
        json_schema_extra=_shown("(none)"),
    )
    webhook_retry_scale: float = Field(
        default=1.0,
        ge=0.0,
        description="multiplies the completion webhooks' retry schedule "
        "(5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, each +/-20%)",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="timeout of one webhook attempt (connect, TLS, answer)"
    )
    webhook_tick_seconds: float = Field(
        default=60.0,
        gt=0,
        description="embedded and emulated modes: how often due webhook retries are sent "
        "(Cloud Scheduler's job every minute when deployed)",
    )
    webhook_ca_file: str = Field(
        default="",
        description="PEM file of extra certificate authorities trusted for callback URLs",
        json_schema_extra=_shown("(none)"),
    )
    secret_prefix: str = Field(
        default="svmflow-",
        description="Secret Manager ids are `<prefix>db-password`, `<prefix>api-keys`, "
        "`<prefix>id-signing-key`",
    )
    secret_manager_endpoint: str = Field(
        default="",
        description="host:port of a Secret Manager API without TLS (a local stand-in); "
        "set, it is used in any mode",
    )
    model_refresh_seconds: float = Field(
        default=10.0, ge=0, description="how often the prediction function looks for a new production model"
    )
    # Automatic rollback: after a promotion, the sequential test (svmflow/domain/sequential.py) watches
    # the new model's first rated predictions for a drop in accuracy against its predecessor's.
    auto_rollback: bool = Field(
        default=True,
        description="after a promotion, roll back automatically when live accuracy drops significantly "
        "below the predecessor's",
        json_schema_extra=_shown("`true`"),
    )
    auto_rollback_drop: float = Field(
        default=0.05, gt=0.0, lt=1.0, description="the drop in accuracy the sequential test looks for"
    )
    auto_rollback_alpha: float = Field(
        default=0.01,
        gt=0.0,
        lt=1.0,
        description="the chance of rolling back a promotion that did not drop, however often it is looked at",
    )
    auto_rollback_labels: int = Field(
        default=1000, ge=1, description="rated predictions of a new model the automatic rollback watches"
    )
    shadow_records: int = Field(
        default=0,
        ge=0,
        description="above 0, a challenger that passes the gate scores this many live records in shadow "
        "(answers not returned, flips counted) before its promotion",
    )
    # New labels before a retrain is asked for: this many at first; afterwards each training derives
    # the number its next test needs (bounded by the floor and max), and any new label is enough once
    # retrain_max_wait_seconds have passed since the last request.
    retrain_min_new_labels: int = Field(default=50, ge=1, description="new labels that trigger a retraining")
    gate_accuracy_floor: float = Field(
        default=0.95, ge=0.0, le=1.0, description="seed hold-out accuracy a challenger needs"
    )
    retrain_floor_new_labels: int = Field(
        default=20, ge=1, description="the fewest new labels a derived retraining trigger asks for"
    )
    retrain_max_new_labels: int = Field(
        default=300, ge=1, description="the most new labels a derived retraining trigger waits for"
    )
    retrain_max_wait_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="after this long, any new label asks for a retraining (checked as feedback arrives)",
    )
    # The promotion gate (see README, "The learning loop").
    gate_seed_tolerance: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="how far below the champion's seed hold-out metric a challenger may fall",
    )
    gate_recall_floor: float = Field(
        default=0.90, ge=0.0, le=1.0, description="the lowest recall of any class a challenger may have"
    )
    gate_metric: GateMetric = Field(
        default="auto",
        description="`accuracy`, `balanced_accuracy`, `macro_f1`, or `auto` "
        "(balanced accuracy when classes are imbalanced)",
    )
    gate_imbalance_share: float = Field(
        default=0.3,
        ge=0.0,
        le=1.0,
        description="`auto`: the smaller class's share under which the metric is balanced accuracy",
    )
    gate_alpha: float = Field(
        default=0.05,
        gt=0.0,
        lt=1.0,
        description="the gate's false-promotion budget per champion, spent over its repeated tests",
    )
    gate_margin: float = Field(
        default=0.02,
        ge=0.0,
        le=1.0,
        description="under drift, how far behind the champion a challenger may be (lower bound)",
    )
    gate_window: int = Field(
        default=500, ge=1, description="latest unbiased feedback labels both models are scored on"
    )
    gate_min_window: int = Field(
        default=20, ge=1, description="fewest window rows before the paired test is run"
    )
    # Fitting: class weights, the C grid searched by cross-validation, and the quarantine rule.
    class_weight: ClassWeight = Field(
        default="none",
        description="`balanced` weighs classes inversely to their frequency (recorded in the metadata)",
    )
    c_grid: str = Field(default="0.01,0.1,1,10", description="values of C tried by cross-validation")
    cv_folds: int = Field(default=5, ge=2, description="cross-validation folds for choosing C")
    quarantine_iqr: float = Field(
        default=3.0,
        ge=0.0,
        description="feedback rows beyond the quartiles +/- this many IQRs are quarantined",
    )
    holdout_percent: int = Field(
        default=20,
        gt=0,
        lt=100,
        description="set, the share of the rows held out for evaluation instead of the spec's",
    )
    feedback_weight: float = Field(
        default=1.0, ge=0.0, description="weight of a feedback row against a seed row in training"
    )
    # Renewed by a heartbeat every third of it.
    training_lease_seconds: int = Field(
        default=30,
        ge=1,
        description="the training claim; a running training renews it on a heartbeat, so a killed or "
        "frozen one frees it within this time",
    )
    max_delivery_attempts: int = Field(
        default=5,
        ge=1,
        description="deliveries before a message goes to the dead-letter topic (embedded bus)",
    )
    embedded_ack_deadline_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how long a delivery the embedded bus handed out stays leased; after a crash, the "
        "messages in flight are delivered again once it runs out",
    )
    # Input drift (svmflow/handlers/drift_monitor.py).
    drift_window: int = Field(
        default=500,
        ge=50,
        description="live records per input-drift window of a model version (at least 50)",
    )
    drift_alpha: float = Field(
        default=0.0001,
        gt=0.0,
        lt=1.0,
        description="the drift threshold: the chance of a false alarm per window without drift",
    )
    drift_retrain: bool = Field(
        default=False,
        description="`true`: a drifted window also asks for a retraining on `training-requests`",
        json_schema_extra=_shown("`false`"),
    )
    bulk_chunk_rows: int = Field(
        default=10_000,
        ge=1,
        le=10_000,
        description="rows per chunk of a bulk file (at most 10,000, the batch limit)",
    )
    dataset_spec: Path = Field(
        default_factory=lambda: DEFAULT_DATASET_SPEC,
        description="the data set spec the deployment serves: feature names, classes, seed data, "
        "hold-out share (`svmflow init DATA.csv --label COLUMN` writes one)",
        json_schema_extra=_shown("`data/banknote.toml`"),
    )
    # Set, these two replace the spec's own values (a data set spec says them for every deployment).
    data_path: Path = Field(
        default_factory=lambda: SEED_DATA,
        description="set, a seed data set used instead of the spec's `seed_data` (the same columns)",
        json_schema_extra=_shown("`data/banknote.csv`"),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # ``Settings(...)`` is exactly what it is given plus the defaults; the environment is read once,
        # at start, by ``from_env``, so tests and tools that build settings stay independent of it.
        return (init_settings,)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The settings ``environ`` (default: this process's environment) gives, then ``overrides``."""
        source = _EnvironSource(cls, os.environ if environ is None else environ)
        return cls._validated({**source(), **overrides}, given=source.raw)

    def with_(self, **changes: object) -> Settings:
        """A copy with ``changes``, validated like the original."""
        return self._validated({**self._explicit_values(), **changes})

    def reaching_embedded_redis(self) -> Settings:
        """For another process beside `svmflow run`: the embedded Redis stand-in listens on TCP there."""
        if self.mode == "embedded" and not self.redis_url:
            return self.with_(redis_url=f"redis://127.0.0.1:{self.embedded_redis_port}/0")
        return self

    @property
    def webhook_allowances(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.webhook_allow.split(",") if part.strip())

    @property
    def webhook_urls_by_key(self) -> dict[str, str]:
        """Each API key identity's default callback URL (every address is checked at each delivery)."""
        return _urls_by_key(self.webhook_key_urls)

    @property
    def c_values(self) -> tuple[float, ...]:
        return tuple(float(x) for x in self.c_grid.split(",") if x.strip())

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'svmflow.sqlite').resolve()}"

    @property
    def bucket_dir(self) -> Path:
        return self.state_dir / "bucket" / self.model_bucket

    @property
    def bus_path(self) -> Path:
        return self.state_dir / "bus.sqlite"

    # -- validation ----------------------------------------------------------------------------

    @field_validator("c_grid")
    @classmethod
    def _c_grid_is_positive_numbers(cls, value: str) -> str:
        try:
            grid = [float(x) for x in value.split(",") if x.strip()]
        except ValueError:
            raise ValueError("not a comma-separated list of numbers") from None
        if not grid or any(c <= 0 for c in grid):
            raise ValueError("needs at least one C, all above 0")
        return value

    @field_validator("webhook_allow")
    @classmethod
    def _webhook_allowances_are_known(cls, value: str) -> str:
        if {part.strip() for part in value.split(",") if part.strip()} - {"loopback", "private"}:
            raise ValueError("may name loopback and private only")
        return value

    @field_validator("webhook_key_urls")
    @classmethod
    def _webhook_key_urls_are_pairs(cls, value: str) -> str:
        _urls_by_key(value)
        return value

    @model_validator(mode="after")
    def _stores_are_given_outside_embedded_mode(self) -> Settings:
        if self.mode != "embedded" and not self.database_url:
            raise ValueError(f"SVMFLOW_DATABASE_URL is required in {self.mode} mode")
        if self.mode != "embedded" and not self.redis_url:
            raise ValueError(f"SVMFLOW_REDIS_URL is required in {self.mode} mode")
        return self

    @classmethod
    def _validated(cls, values: Mapping[str, object], given: Mapping[str, str] | None = None) -> Settings:
        try:
            return cls.model_validate(dict(values))
        except ValidationError as exc:
            raise ConfigError("; ".join(_explain(error, given or {}) for error in exc.errors())) from None

    def _explicit_values(self) -> dict[str, object]:
        # Only what was given: a setting that overrides the data set spec when set stays unset.
        return {name: getattr(self, name) for name in self.model_fields_set}

    def is_set(self, name: str) -> bool:
        """Whether ``name`` was given (by the environment or a caller) rather than left at its default."""
        return name in self.model_fields_set


def _urls_by_key(value: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for entry in value.split():
        identity, sep, url = entry.partition("=")
        if not sep or not identity or not url:
            raise ValueError(f"{entry!r} is not IDENTITY=URL")
        if not url.startswith("https://"):
            raise ValueError(f"the callback URL for {identity} must use https")
        found[identity] = url
    return found


def variable(name: str) -> str:
    """The environment variable of the setting ``name``."""
    return f"{ENV_PREFIX}{name.upper()}"


_PARSING = {"int_parsing": "int", "float_parsing": "float", "path_type": "Path"}


def _explain(error: ErrorDetails, given: Mapping[str, str]) -> str:
    """One validation error as a sentence naming the variable and the value it had."""
    if not error["loc"]:  # a rule across settings: its message names the variables
        return error["msg"].removeprefix("Value error, ")
    name = str(error["loc"][0])
    shown = given.get(name, error["input"])
    if error["type"] in _PARSING:
        return f"{variable(name)}={shown!r} is not a valid {_PARSING[error['type']]}"
    reason = error["msg"].removeprefix("Value error, ")
    return f"{variable(name)}={shown!r}: {reason[:1].lower()}{reason[1:]}"


class _EnvironSource(EnvSettingsSource):
    """The ``SVMFLOW_*`` variables of a given mapping (``os.environ`` or a test's dict), keeping the raw
    strings so an error can quote what was set."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(
            self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        self.raw = {name: value for name, value in values.items() if isinstance(value, str)}
        return values
