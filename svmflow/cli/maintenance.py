"""``svmflow rebuild-cache``, ``svmflow migrate`` and ``svmflow schema``: keep the read model, the
database and schema/ in step with the code."""

from __future__ import annotations

import argparse
import sys

from svmflow import operations
from svmflow.bootstrap import Container
from svmflow.config import Settings


def cmd_rebuild_cache(settings: Settings, _: argparse.Namespace) -> int:
    settings = settings.reaching_embedded_redis()
    container = Container(settings)
    try:
        container.read_model.ping()
    except Exception as exc:
        print(
            f"cannot reach Redis at {settings.redis_url}: {exc} (is the system running?)",
            file=sys.stderr,
        )
        return 1
    counts = operations.rebuild_read_model(container)
    print(
        f"read model rebuilt: {counts['batches']} batches, {counts['models']} models, {counts['jobs']} jobs, "
        f"{counts['dead_letters']} dead letters, the webhooks of {counts['webhooks']} batches"
    )
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db.database import make_engine
    from svmflow.db.migrate import migrate_database

    container = Container(settings)
    url = settings.effective_database_url
    # The migrate job's URL carries the owner's password; elsewhere it comes from db-password.
    password = None if url.startswith("sqlite") else container.secrets.get("db-password") or None
    engine = make_engine(url, password=password, pool_size=1)
    try:
        app_password = container.secrets.get("db-password") if args.app_role else ""
        revision = migrate_database(engine, args.app_role, app_password)
    finally:
        engine.dispose()
    granted = f"; role {args.app_role} granted" if args.app_role else ""
    print(f"database schema at revision {revision}{granted}")
    return 0


def cmd_schema_write(_: Settings, __: argparse.Namespace) -> int:
    from svmflow import schemas

    for path in schemas.write(schemas.SCHEMA_DIR):
        print(f"wrote {path}")
    return 0


def cmd_schema_check(_: Settings, __: argparse.Namespace) -> int:
    from svmflow import schemas

    stale = schemas.drift(schemas.SCHEMA_DIR)
    for path in stale:
        print(f"out of date: {path} (run `make schema`)", file=sys.stderr)
    return 1 if stale else 0
