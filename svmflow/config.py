"""Typed settings, read once from the environment (``SVMFLOW_*``).

Three modes share one set of handlers; only the adapters differ:

* ``embedded``: durable in-process bus in a SQLite file, fakeredis, SQLite, a local folder bucket.
* ``emulated``: the Pub/Sub emulator, real Redis and Postgres, fake-gcs-server.
* ``gcp``: Pub/Sub, Memorystore, Cloud SQL, Cloud Storage, Secret Manager.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal, get_args

Mode = Literal["embedded", "emulated", "gcp"]


class ConfigError(ValueError):
    """A setting is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    mode: Mode = "embedded"
    project: str = "svmflow-local"
    state_dir: Path = Path(".svmflow")
    # Empty means "derive from the mode" (see the properties below).
    database_url: str = ""
    redis_url: str = ""
    model_bucket: str = "svmflow-models"
    storage_endpoint: str = ""
    pubsub_emulator_host: str = ""
    secret_prefix: str = "svmflow-"  # noqa: S105 (a name prefix, not a secret)
    # host:port of a Secret Manager API without TLS (a local stand-in); set, it is used in any mode.
    secret_manager_endpoint: str = ""
    db_pool_size: int = 5
    cache_prefix: str = "svmflow:"
    cache_ttl_seconds: int = 7 * 24 * 3600
    cache_index_size: int = 10_000
    cache_jobs_size: int = 200
    # How often the prediction function looks at the production pointer for a new model.
    model_refresh_seconds: float = 10.0
    # New labels before a retrain is asked for: this many at first; afterwards each training derives
    # the number its next test needs (bounded by the min and max), and any new label is enough once
    # retrain_max_wait_seconds have passed since the last request.
    retrain_min_new_labels: int = 50
    retrain_floor_new_labels: int = 20
    retrain_max_new_labels: int = 300
    retrain_max_wait_seconds: float = 3600.0
    # The promotion gate (see README, "The learning loop").
    gate_accuracy_floor: float = 0.95
    gate_seed_tolerance: float = 0.02
    gate_recall_floor: float = 0.90
    gate_metric: str = "auto"  # auto, accuracy, balanced_accuracy, macro_f1
    gate_imbalance_share: float = 0.3
    gate_alpha: float = 0.05
    gate_margin: float = 0.02
    gate_window: int = 500
    gate_min_window: int = 20
    # Fitting: class weights, the C grid searched by cross-validation, and the quarantine rule.
    class_weight: str = "none"  # none or balanced
    c_grid: str = "0.01,0.1,1,10"
    cv_folds: int = 5
    quarantine_iqr: float = 3.0
    holdout_percent: int = 20
    feedback_weight: float = 1.0
    # The running training's claim: renewed by a heartbeat every third of it, so a crashed or frozen
    # training frees the claim within this time.
    training_lease_seconds: int = 30
    max_delivery_attempts: int = 5
    # Rows per chunk of a bulk file (at most 10,000, the batch limit).
    bulk_chunk_rows: int = 10_000
    embedded_redis_port: int = 6390
    # The HTTP APIs: where `svmflow run` serves them, and the predict API's public address, which the
    # ingest API puts in each answer's Location header (set it to the Cloud Run URL in production).
    api_host: str = "127.0.0.1"
    ingest_port: int = 8080
    predict_port: int = 8081
    predict_url: str = ""
    # The ingest API's public address, which the console (served by the predict API) sends batches to.
    ingest_url: str = ""
    # Origins besides the predict API's own that may call the ingest API from a browser (comma separated).
    console_origins: str = ""
    # Completion webhooks. Callback addresses the SSRF check lets through besides public ones: empty,
    # or "loopback" and/or "private" (comma separated), for tests and private deployments only.
    webhook_allow: str = ""
    # Default callback URLs per API key, for batches that name none: space-separated
    # IDENTITY=URL entries, IDENTITY being the key's identity (the first 32 hex digits of its SHA-256).
    webhook_key_urls: str = ""
    # Multiplies the retry schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h); tests compress it.
    webhook_retry_scale: float = 1.0
    webhook_timeout_seconds: float = 10.0
    # Embedded mode: how often the runtime publishes the tick that retries due webhooks.
    webhook_tick_seconds: float = 60.0
    # A PEM file of extra certificate authorities to trust for callbacks (a private receiver's CA).
    webhook_ca_file: str = ""
    log_level: str = "INFO"
    data_path: Path = field(
        default_factory=lambda: Path(__file__).resolve().parent.parent / "data" / "banknote.csv"
    )

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"SVMFLOW_{f.name.upper()}")
            if raw is None:
                continue
            values[f.name] = _coerce(f.name, f.type, raw)
        if "pubsub_emulator_host" not in values and env.get("PUBSUB_EMULATOR_HOST"):
            values["pubsub_emulator_host"] = env["PUBSUB_EMULATOR_HOST"]
        values.update(overrides)
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> None:
        if self.mode not in get_args(Mode):
            raise ConfigError(f"SVMFLOW_MODE must be one of {get_args(Mode)}, not {self.mode!r}")
        if not 0 < self.holdout_percent < 100:
            raise ConfigError("SVMFLOW_HOLDOUT_PERCENT must be between 1 and 99")
        if not 0.0 <= self.gate_accuracy_floor <= 1.0:
            raise ConfigError("SVMFLOW_GATE_ACCURACY_FLOOR must be between 0 and 1")
        if not 1 <= self.bulk_chunk_rows <= 10_000:
            raise ConfigError("SVMFLOW_BULK_CHUNK_ROWS must be between 1 and 10000")
        if self.gate_metric not in ("auto", "accuracy", "balanced_accuracy", "macro_f1"):
            raise ConfigError("SVMFLOW_GATE_METRIC must be auto, accuracy, balanced_accuracy or macro_f1")
        if self.class_weight not in ("none", "balanced"):
            raise ConfigError("SVMFLOW_CLASS_WEIGHT must be none or balanced")
        if not 0.0 < self.gate_alpha < 1.0:
            raise ConfigError("SVMFLOW_GATE_ALPHA must be between 0 and 1")
        try:
            grid = self.c_values
        except ValueError as exc:
            raise ConfigError(
                f"SVMFLOW_C_GRID={self.c_grid!r} is not a comma-separated list of numbers"
            ) from exc
        if not grid or any(c <= 0 for c in grid):
            raise ConfigError("SVMFLOW_C_GRID needs at least one C, all above 0")
        if self.cv_folds < 2:
            raise ConfigError("SVMFLOW_CV_FOLDS must be at least 2")
        self._validate_webhooks()
        if self.mode != "embedded" and not self.database_url:
            raise ConfigError(f"SVMFLOW_DATABASE_URL is required in {self.mode} mode")
        if self.mode != "embedded" and not self.redis_url:
            raise ConfigError(f"SVMFLOW_REDIS_URL is required in {self.mode} mode")

    def _validate_webhooks(self) -> None:
        unknown = set(self.webhook_allowances) - {"loopback", "private"}
        if unknown:
            raise ConfigError("SVMFLOW_WEBHOOK_ALLOW may name loopback and private only")
        if (
            self.webhook_retry_scale < 0
            or self.webhook_timeout_seconds <= 0
            or self.webhook_tick_seconds <= 0
        ):
            raise ConfigError(
                "SVMFLOW_WEBHOOK_RETRY_SCALE must be at least 0, the webhook timeout and tick above 0"
            )
        try:
            self.webhook_urls_by_key  # noqa: B018 (parsed for its errors)
        except ValueError as exc:
            raise ConfigError(f"SVMFLOW_WEBHOOK_KEY_URLS: {exc}") from exc

    @property
    def webhook_allowances(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.webhook_allow.split(",") if part.strip())

    @property
    def webhook_urls_by_key(self) -> dict[str, str]:
        """Each API key identity's default callback URL (every address is checked at each delivery)."""
        found: dict[str, str] = {}
        for entry in self.webhook_key_urls.split():
            identity, sep, url = entry.partition("=")
            if not sep or not identity or not url:
                raise ValueError(f"{entry!r} is not IDENTITY=URL")
            if not url.startswith("https://"):
                raise ValueError(f"the callback URL for {identity} must use https")
            found[identity] = url
        return found

    def reaching_embedded_redis(self) -> Settings:
        """For another process beside `svmflow run`: the embedded Redis stand-in listens on TCP there."""
        if self.mode == "embedded" and not self.redis_url:
            return self.with_(redis_url=f"redis://127.0.0.1:{self.embedded_redis_port}/0")
        return self

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


def _coerce(name: str, annotation: object, raw: str) -> object:
    kind = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"SVMFLOW_{name.upper()}={raw!r} is not a valid {kind}") from exc
    return raw
