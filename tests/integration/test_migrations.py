"""The Alembic migrations and svmflow.db.tables agree, on PostgreSQL and SQLite, and the
application role they grant may use the tables but not change the schema."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, create_engine, text

from svmflow.db import migrate
from svmflow.db.database import make_engine
from svmflow.db.tables import Base
from svmflow.emulated.processes import free_port
from svmflow.emulated.servers import PrivatePostgres

APP_ROLE = "svmflow_app"


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    base = Path(tempfile.mkdtemp(prefix="svmflow-migrations-"))
    base.chmod(0o755)
    server = PrivatePostgres(free_port(), base / "pg" / "data", base / "logs", secrets.token_urlsafe(18))
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_engine(postgres: PrivatePostgres) -> Iterator[Engine]:
    database = f"migrations_{secrets.token_hex(4)}"
    postgres.create_database(database)
    engine = make_engine(postgres.url(database), password=postgres.password, pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()
        with postgres.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'svmflow.sqlite'}")
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.mark.parametrize("engine_fixture", ["pg_engine", "sqlite_engine"])
def test_migrations_build_exactly_the_tables_in_the_code(
    engine_fixture: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(engine_fixture)
    assert migrate.migrate_database(engine) == "0002"
    assert migrate.differences(engine) == []
    # Running again changes nothing.
    assert migrate.migrate_database(engine) == "0002"


def test_a_table_change_without_a_migration_is_found(pg_engine: Engine) -> None:
    migrate.migrate_database(pg_engine)
    with pg_engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_training_jobs_finished_at"))
        connection.execute(text("ALTER TABLE retrain_state ADD COLUMN note text"))
    found = {
        str(diff[0][0] if isinstance(diff, list) else diff[0]) for diff in migrate.differences(pg_engine)
    }
    assert found == {"add_index", "remove_column"}


def test_tables_created_at_start_are_adopted(sqlite_engine: Engine) -> None:
    Base.metadata.create_all(sqlite_engine)
    assert migrate.current(sqlite_engine) is None
    assert migrate.migrate_database(sqlite_engine) == "0002"
    assert migrate.differences(sqlite_engine) == []


def test_tables_created_at_start_by_the_first_release_are_adopted_and_upgraded(
    sqlite_engine: Engine,
) -> None:
    older = [t for name, t in Base.metadata.tables.items() if name not in migrate.LATER_TABLES]
    Base.metadata.create_all(sqlite_engine, tables=older)
    with sqlite_engine.begin() as connection:  # the first release's lease table, since replaced
        connection.execute(text("CREATE TABLE leases (name VARCHAR(64) PRIMARY KEY, holder VARCHAR(160))"))
    assert migrate.migrate_database(sqlite_engine) == "0002"
    assert migrate.differences(sqlite_engine) == []


def test_the_app_role_uses_the_tables_but_cannot_change_the_schema(
    postgres: PrivatePostgres, pg_engine: Engine
) -> None:
    password = secrets.token_urlsafe(18)
    migrate.migrate_database(pg_engine, APP_ROLE, password)
    database = pg_engine.url.database
    with postgres.admin() as conn:
        flags = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = %s", (APP_ROLE,)
        ).fetchone()
    assert flags == (False, False, False)
    app = create_engine(f"postgresql+psycopg://{APP_ROLE}:{password}@127.0.0.1:{postgres.port}/{database}")
    try:
        with app.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO processed_events (consumer, event_id, processed_at) "
                    "VALUES ('test', 'me', now())"
                )
            )
            assert connection.execute(text("SELECT event_id FROM processed_events")).scalar_one() == "me"
            connection.execute(text("DELETE FROM processed_events"))
        with pytest.raises(Exception, match="permission denied"), app.begin() as connection:
            connection.execute(text("CREATE TABLE intruder (id int)"))
        with pytest.raises(Exception, match="must be owner"), app.begin() as connection:
            connection.execute(text("ALTER TABLE retrain_state ADD COLUMN note text"))
    finally:
        app.dispose()
    # A second run (the next deploy) rotates the password to the secret's current value.
    rotated = secrets.token_urlsafe(18)
    migrate.migrate_database(pg_engine, APP_ROLE, rotated)
    psycopg.connect(
        host="127.0.0.1", port=postgres.port, user=APP_ROLE, password=rotated, dbname=database
    ).close()


def test_a_bad_role_name_is_refused(pg_engine: Engine) -> None:
    with pytest.raises(ValueError, match="invalid role name"):
        migrate.grant_app_role(pg_engine, 'x"; DROP TABLE retrain_state; --', "pw")
