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
from alembic.script import ScriptDirectory
from sqlalchemy import BLANK_SCHEMA, Engine, MetaData, create_engine, inspect, text

from svmflow.db.tables import Base

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SCRATCH = "svmflow_migration_scratch"


def _config(connection: Any) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    with engine.begin() as connection:
        command.upgrade(_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    with engine.begin() as connection:
        command.downgrade(_config(connection), revision)


def head() -> str:
    """The newest revision: what the code's tables are."""
    revision = ScriptDirectory.from_config(_config(None)).get_current_head()
    assert revision is not None
    return revision


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

    A database whose tables were created at start (create_schema, with no migration record) is
    adopted at the revision whose schema it has: the newest one when it was created by this code,
    an earlier one when an older release created it (then the later migrations run as usual).
    """
    if current(engine) is None and _has_svmflow_tables(engine):
        drift = differences(engine)
        adopted = "head" if not drift else _matching_revision(engine)
        if adopted is None:
            raise ValueError(
                f"the tables predate migrations and match no revision; against the code: {drift[:3]}"
            )
        with engine.begin() as connection:
            command.stamp(_config(connection), adopted)
    upgrade(engine)
    if app_role:
        grant_app_role(engine, app_role, app_password)
    return current(engine) or ""


def _has_svmflow_tables(engine: Engine) -> bool:
    return bool(set(inspect(engine).get_table_names()) & set(Base.metadata.tables))


def _matching_revision(engine: Engine) -> str | None:
    """The newest earlier revision whose schema the database has, built in a scratch place to compare."""
    script = ScriptDirectory.from_config(_config(None))
    for revision in script.walk_revisions():
        if revision.revision == script.get_current_head():
            continue  # compared with the code already
        with engine.connect() as connection:
            if not _differences_from(connection, _schema_at(engine, revision.revision)):
                return revision.revision
    return None


def _differences_from(connection: Any, metadata: MetaData) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [
        diff
        for diff in compare_metadata(context, metadata)
        # The scratch copy holds its own version table; the database being adopted has none yet.
        if not (isinstance(diff, tuple) and diff[0] == "add_table" and diff[1].name == "alembic_version")
    ]


def _schema_at(engine: Engine, revision: str) -> MetaData:
    """The tables a revision builds, reflected from an in-memory SQLite database or, on PostgreSQL, a
    scratch schema created and rolled back in one transaction (DDL is transactional there)."""
    metadata = MetaData()
    if engine.dialect.name != "postgresql":
        scratch = create_engine("sqlite://")
        try:
            upgrade(scratch, revision)
            metadata.reflect(scratch)
        finally:
            scratch.dispose()
        return metadata
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.exec_driver_sql(f"CREATE SCHEMA {_SCRATCH}")
            connection.exec_driver_sql(f"SET LOCAL search_path TO {_SCRATCH}")
            command.upgrade(_config(connection), revision)
            reflected = MetaData()
            reflected.reflect(connection, schema=_SCRATCH)
            for table in reflected.sorted_tables:
                # Unqualified, foreign keys too, as the database's own tables are.
                # SQLAlchemy handles schema=None and a BLANK_SCHEMA answer (both documented); its
                # annotations allow neither.
                table.to_metadata(
                    metadata,
                    schema=None,  # type: ignore[arg-type]
                    referred_schema_fn=lambda *_: BLANK_SCHEMA,  # type: ignore[arg-type]
                )
        finally:
            transaction.rollback()
    return metadata
