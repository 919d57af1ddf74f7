"""The emulated stack on this machine's Redis and PostgreSQL (``make run-emulated``, the latency bench)."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import make_url

from devstack.stack import StackConfig
from svmflow.adapters.secrets import LOCAL_DEFAULTS, EnvSecrets

MACHINE_REDIS = "redis://127.0.0.1:6379/0"
MACHINE_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/svmflow"


# Settings the stack derives itself; the user's other SVMFLOW_* settings reach every process.
_SET_BY_THE_STACK = {
    f"SVMFLOW_{name}"
    for name in (
        "MODE",
        "DATABASE_URL",
        "REDIS_URL",
        "STORAGE_ENDPOINT",
        "SECRET_MANAGER_ENDPOINT",
        "PROJECT",
        "CACHE_PREFIX",
        "MODEL_BUCKET",
        "INGEST_PORT",
        "PREDICT_PORT",
        "PREDICT_URL",
        "STATE_DIR",
    )
}


def ensure_database(url: str) -> None:
    """Create the URL's database on its server if it is missing (the server's own `postgres` database
    is where CREATE DATABASE runs)."""
    import psycopg

    parsed = make_url(url)
    password = parsed.password or EnvSecrets().get("db-password") or None
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=password,
        dbname="postgres",
        autocommit=True,
        connect_timeout=5,
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (parsed.database,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{parsed.database}"')


def drop_database(url: str) -> None:
    import psycopg

    parsed = make_url(url)
    with psycopg.connect(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


def machine_config(run_dir: Path, **changes: object) -> StackConfig:
    """Redis and Postgres from SVMFLOW_REDIS_URL / SVMFLOW_DATABASE_URL, else the machine's; secrets
    from SVMFLOW_SECRET_* or the local defaults, served to every process through Secret Manager."""
    env = os.environ
    values: dict[str, object] = {
        "redis_url": env.get("SVMFLOW_REDIS_URL") or MACHINE_REDIS,
        "database_url": env.get("SVMFLOW_DATABASE_URL") or MACHINE_POSTGRES,
        "run_dir": run_dir,
        "project": env.get("SVMFLOW_PROJECT") or "svmflow-local",
        "cache_prefix": env.get("SVMFLOW_CACHE_PREFIX") or "svmflow:",
        "secrets": {name: EnvSecrets().get(name) for name in LOCAL_DEFAULTS},  # SVMFLOW_SECRET_* or defaults
        "env": {k: v for k, v in env.items() if k.startswith("SVMFLOW_") and k not in _SET_BY_THE_STACK},
    }
    values.update(changes)
    # The ignore: `changes` are any of StackConfig's fields, each of its own type; a wrong one is a
    # TypeError here, at once.
    return StackConfig(**values)  # type: ignore[arg-type]
