"""Schema migrations (Alembic) and the application's database role.

In gcp mode the components connect as an application role that may read and write rows but not
change the schema; `svmflow migrate` runs once per deploy as the database owner (the migrate job
in infra/ops.tf), applies the migrations and grants that role what it needs. Embedded and
emulated mode keep creating the tables at start (Database.create_schema).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from svmflow.db.tables import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _config(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def current(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def differences(engine: Engine) -> list[Any]:
    """What the database's schema lacks or has beyond svmflow.db.tables (empty: they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def grant_app_role(engine: Engine, role: str, password: str) -> None:
    """Create or update a login role that may use the tables but not own or change them."""
    if not _ROLE.match(role):
        raise ValueError(f"invalid role name {role!r}: lowercase letters, digits and underscores")
    if engine.dialect.name != "postgresql":
        raise ValueError("an application role exists only on PostgreSQL")
    if not password:
        raise ValueError("the application role needs a password (the db-password secret)")
    with engine.begin() as connection:
        quoted_password = connection.exec_driver_sql(
            "SELECT quote_literal(%(p)s)", {"p": password}
        ).scalar_one()
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
        verb = "ALTER" if exists else "CREATE"
        # NOSUPERUSER and no CREATEDB/CREATEROLE; a role created by SQL is also outside Cloud
        # SQL's cloudsqlsuperuser group, unlike users created through the Cloud SQL API.
        connection.exec_driver_sql(
            f'{verb} ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {quoted_password}'
        )
        database = connection.exec_driver_sql("SELECT current_database()").scalar_one()
        for statement in (
            f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"',
            f'GRANT USAGE ON SCHEMA public TO "{role}"',
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
            f'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
            # Tables that later migrations create, as this (owner) role, are granted too.
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"',
            f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO "{role}"',
            f'REVOKE CREATE ON SCHEMA public FROM "{role}"',
        ):
            connection.exec_driver_sql(statement)


def migrate_database(engine: Engine, app_role: str | None = None, app_password: str = "") -> str:
    """Bring the schema to the newest revision and, if asked, grant the application role.

    A database whose tables were created at start (create_schema, before migrations existed) and
    match the code is adopted: marked as at the first revision, then upgraded from there.
    """
    if current(engine) is None and _has_svmflow_tables(engine):
        drift = differences(engine)
        if drift and not _only_later_tables_missing(drift):
            raise ValueError(f"the tables predate migrations and differ from the code: {drift[:3]}")
        # Created at start by this version (nothing differs): already at the newest revision. By an
        # older one: at the first, and the migrations after it add what is missing.
        with engine.begin() as connection:
            command.stamp(_config(connection), "0001" if drift else "head")
    upgrade(engine)
    if app_role:
        grant_app_role(engine, app_role, app_password)
    return current(engine) or ""


# Tables the migrations after the first add, and those they drop: what a database created at start
# by the first release lacks, or has beyond the code.
LATER_TABLES = frozenset({"training_requests", "dead_letters"})
DROPPED_TABLES = frozenset({"leases"})


def _only_later_tables_missing(drift: list[Any]) -> bool:
    for item in drift:
        kind, subject = (item[0] if isinstance(item, list) else item)[:2]
        table = subject if kind in ("add_table", "remove_table") else getattr(subject, "table", None)
        name = getattr(table, "name", None)
        if kind in ("add_table", "add_index") and name in LATER_TABLES:
            continue
        if kind == "remove_table" and name in DROPPED_TABLES:
            continue
        return False
    return True


def _has_svmflow_tables(engine: Engine) -> bool:
    from sqlalchemy import inspect

    return bool(set(inspect(engine).get_table_names()) & set(Base.metadata.tables))
