"""The Alembic migrations and svmflow.db.tables agree, on PostgreSQL and SQLite; a database of an
earlier revision, or created at start by an earlier release, upgrades with its rows (and downgrades);
the application role they grant may use the tables but not change the schema."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session

from devstack.processes import free_port
from devstack.servers import PrivatePostgres
from svmflow.db import migrate, performance, queries
from svmflow.db.database import make_engine
from svmflow.db.tables import Base, ChampionTests, PerformanceCount, RetrainState, TrainingRow
from svmflow.domain.training import FEEDBACK, SEED, row_hash

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


@contextmanager
def scratch_database(postgres: PrivatePostgres, prefix: str, *, drop_app_role: bool) -> Iterator[Engine]:
    """An engine on a new, empty database that is dropped (with the app role, if asked) afterwards."""
    database = f"{prefix}_{secrets.token_hex(4)}"
    postgres.create_database(database)
    engine = make_engine(postgres.url(database), password=postgres.password, pool_size=2)
    try:
        yield engine
    finally:
        engine.dispose()
        with postgres.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            if drop_app_role:
                conn.execute(f'DROP ROLE IF EXISTS "{APP_ROLE}"')


@pytest.fixture
def pg_engine(postgres: PrivatePostgres) -> Iterator[Engine]:
    with scratch_database(postgres, "migrations", drop_app_role=True) as engine:
        yield engine


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
    assert migrate.migrate_database(engine) == migrate.head()
    assert migrate.differences(engine) == []
    # Running again changes nothing.
    assert migrate.migrate_database(engine) == migrate.head()


def test_a_table_change_without_a_migration_is_found(pg_engine: Engine) -> None:
    migrate.migrate_database(pg_engine)
    with pg_engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_training_jobs_finished_at"))
        connection.execute(text("ALTER TABLE champion_tests ADD COLUMN note text"))
    found = {
        str(diff[0][0] if isinstance(diff, list) else diff[0]) for diff in migrate.differences(pg_engine)
    }
    assert found == {"add_index", "remove_column"}


@pytest.mark.parametrize("engine_fixture", ["pg_engine", "sqlite_engine"])
def test_tables_created_at_start_are_adopted_at_the_newest_revision(
    engine_fixture: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(engine_fixture)
    Base.metadata.create_all(engine)
    assert migrate.current(engine) is None
    assert migrate.migrate_database(engine) == migrate.head()
    assert migrate.differences(engine) == []


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
                text("INSERT INTO champion_tests (version, tests, updated_at) VALUES ('v1', 1, now())")
            )
            assert connection.execute(text("SELECT tests FROM champion_tests")).scalar_one() == 1
            connection.execute(text("DELETE FROM champion_tests"))
        with pytest.raises(Exception, match="permission denied"), app.begin() as connection:
            connection.execute(text("CREATE TABLE intruder (id int)"))
        with pytest.raises(Exception, match="must be owner"), app.begin() as connection:
            connection.execute(text("ALTER TABLE champion_tests ADD COLUMN note text"))
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
        migrate.grant_app_role(pg_engine, 'x"; DROP TABLE champion_tests; --', "pw")


# A 0001 database as the releases before 0002 left it: seed rows, feedback rows keyed by where they
# were rated (the same vector rated three times, its label changed once), the debounce counter, rated
# predictions of two versions, and a training lease.
T0 = datetime(2026, 11, 30, 23, 30, tzinfo=UTC)
VECTORS = {"same": [0.1, 0.2], "other": [0.3, 0.4]}

_0001 = sa.MetaData()
_rows_0001 = sa.Table(
    "training_rows",
    _0001,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source", sa.String),
    sa.Column("source_key", sa.String),
    sa.Column("features", sa.JSON),
    sa.Column("label", sa.SmallInteger),
    sa.Column("row_hash", sa.String),
    sa.Column("holdout", sa.Boolean),
    sa.Column("labelled_at", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True)),
)
_batches_0001 = sa.Table(
    "prediction_batches",
    _0001,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("model_version", sa.String),
    sa.Column("record_count", sa.Integer),
    sa.Column("submitted_at", sa.DateTime(timezone=True)),
    sa.Column("predicted_at", sa.DateTime(timezone=True)),
)
_verdicts_0001 = sa.Table(
    "feedback_verdicts",
    _0001,
    sa.Column("batch_id", sa.String, primary_key=True),
    sa.Column("subject", sa.String, primary_key=True),
    sa.Column("rating", sa.SmallInteger),
    sa.Column("predicted_label", sa.SmallInteger),
    sa.Column("corrected_label", sa.SmallInteger),
    sa.Column("model_version", sa.String),
    sa.Column("rated_at", sa.DateTime(timezone=True)),
)
_state_0001 = sa.Table(
    "retrain_state",
    _0001,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("labels_at_last_request", sa.Integer),
    sa.Column("last_request_id", sa.String),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
_leases_0001 = sa.Table(
    "leases",
    _0001,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("holder", sa.String),
    sa.Column("expires_at", sa.DateTime(timezone=True)),
)


def _fill_0001(engine: Engine) -> None:
    def feedback(key: str, features: list[float], label: int, minutes: int) -> dict[str, object]:
        at = T0 + timedelta(minutes=minutes)
        return {
            "source": FEEDBACK,
            "source_key": key,
            "features": features,
            "label": label,
            "row_hash": row_hash(features),
            "holdout": False,
            "labelled_at": at,
            "created_at": at,
        }

    with engine.begin() as connection:
        connection.execute(
            _rows_0001.insert(),
            [
                {
                    "source": SEED,
                    "source_key": f"row-{i}",
                    "features": [float(i), 1.0],
                    "label": i % 2,
                    "row_hash": row_hash([float(i), 1.0]),
                    "holdout": i == 1,
                    "labelled_at": T0,
                    "created_at": T0,
                }
                for i in range(3)
            ],
        )
        connection.execute(
            _rows_0001.insert(),
            [
                feedback("b1/s1", VECTORS["same"], 1, 1),
                feedback("b1/s2", VECTORS["other"], 1, 2),
                feedback("b2/s1", VECTORS["same"], 0, 600),
                feedback("b2/s3", VECTORS["same"], 0, 601),
            ],
        )
        # b1 predicted on Nov 30, b2 and b3 on Dec 1 (UTC)
        for batch_id, version, hours in (("b1", "v1", 0), ("b2", "v1", 9), ("b3", "v2", 9)):
            at = T0 + timedelta(hours=hours)
            connection.execute(
                _batches_0001.insert(),
                {
                    "batch_id": batch_id,
                    "model_version": version,
                    "record_count": 3,
                    "submitted_at": at,
                    "predicted_at": at,
                },
            )
        connection.execute(
            _verdicts_0001.insert(),
            [
                {
                    "batch_id": b,
                    "subject": s,
                    "rating": int(p == c),
                    "predicted_label": p,
                    "corrected_label": c,
                    "model_version": v,
                    "rated_at": T0 + timedelta(hours=10),
                }
                for b, s, p, c, v in (
                    ("b1", "s1", 1, 1, "v1"),
                    ("b1", "s2", 0, 1, "v1"),
                    ("b2", "s1", 1, 0, "v1"),
                    ("b2", "s3", 0, 0, "v1"),
                    ("b3", "s1", 1, 1, "v2"),
                )
            ],
        )
        connection.execute(
            _state_0001.insert(),
            {"id": 1, "labels_at_last_request": 3, "last_request_id": "labels-3", "updated_at": T0},
        )
        connection.execute(_leases_0001.insert(), {"name": "training", "holder": "job-1", "expires_at": T0})


def _schema(engine: Engine) -> dict[str, object]:
    """Every table's columns (type, nullability, server default), keys, indexes and constraints."""
    inspector = sa.inspect(engine)
    schema: dict[str, object] = {}
    for table in sorted(set(inspector.get_table_names()) - {"alembic_version"}):
        schema[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            ),
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "foreign_keys": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    str(f["options"]),
                )
                for f in inspector.get_foreign_keys(table)
            ),
        }
    return schema


@pytest.fixture
def twin_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A second, empty database on the same server as the engine the test is given."""
    if request.node.callspec.params["engine_fixture"] == "pg_engine":
        postgres: PrivatePostgres = request.getfixturevalue("postgres")
        with scratch_database(postgres, "twin", drop_app_role=False) as engine:
            yield engine
    else:
        engine = make_engine(f"sqlite:///{tmp_path / 'twin.sqlite'}")
        try:
            yield engine
        finally:
            engine.dispose()


@pytest.mark.parametrize("engine_fixture", ["pg_engine", "sqlite_engine"])
def test_a_0001_database_keeps_its_rows_through_upgrade_and_downgrade(
    engine_fixture: str, request: pytest.FixtureRequest, twin_engine: Engine
) -> None:
    engine: Engine = request.getfixturevalue(engine_fixture)
    migrate.upgrade(engine, "0001")
    before_0001 = _schema(engine)
    _fill_0001(engine)

    assert migrate.migrate_database(engine) == migrate.head()
    assert migrate.differences(engine) == []
    # Exactly what the tables in the code create, server defaults included (none are left behind).
    Base.metadata.create_all(twin_engine)
    assert _schema(engine) == _schema(twin_engine)

    same, other = row_hash(VECTORS["same"]), row_hash(VECTORS["other"])
    with Session(engine) as session:
        rows = {(r.row.source, r.row.key): r for r in queries.stored_rows(session)}
        training = {r.source_key: r for r in session.scalars(sa.select(TrainingRow))}
        state = session.get(RetrainState, 1)
        counts = set(
            session.execute(
                sa.select(
                    PerformanceCount.model_version,
                    PerformanceCount.day,
                    PerformanceCount.true_label,
                    PerformanceCount.predicted_label,
                    PerformanceCount.count,
                )
            ).all()
        )
        v1 = performance.load(session, "v1")
        assert session.scalar(sa.select(sa.func.count()).select_from(ChampionTests)) == 0
    # Seed rows as they were, with the defaults the code gives new ones.
    for i in range(3):
        seed = training[f"row-{i}"]
        assert (seed.source, seed.label, seed.holdout, seed.features) == (
            SEED,
            i % 2,
            i == 1,
            [float(i), 1.0],
        )
        assert (seed.kind, seed.status, seed.label_changes, seed.batch_id) == (SEED, "active", 0, None)
    # One feedback row per vector, keyed by its digest: the latest rating stands, where it was given.
    assert set(rows) == {(SEED, f"row-{i}") for i in range(3)} | {(FEEDBACK, same), (FEEDBACK, other)}
    relabelled, untouched = training[same], training[other]
    assert (relabelled.label, relabelled.batch_id, relabelled.subject) == (0, "b2", "s3")
    assert (relabelled.label_changes, relabelled.kind, relabelled.status) == (1, "corrections", "active")
    assert (untouched.label, untouched.batch_id, untouched.subject, untouched.label_changes) == (
        1,
        "b1",
        "s2",
        0,
    )
    assert relabelled.row_hash == same
    assert relabelled.features == VECTORS["same"]
    # The labels pending since the last request stay pending: 4 feedback labels, the request saw 3.
    assert state is not None
    assert (state.labels_total, state.labels_at_last_request, state.last_request_id) == (4, 3, "labels-3")
    assert (state.sample_rated, state.sample_wrong, state.labels_needed, state.reference_error) == (
        0,
        0,
        None,
        None,
    )
    # Live performance of the versions rated before the upgrade, by UTC day of prediction.
    assert counts == {
        ("v1", "2026-11-30", 1, 1, 1),
        ("v1", "2026-11-30", 1, 0, 1),
        ("v1", "2026-12-01", 0, 1, 1),
        ("v1", "2026-12-01", 0, 0, 1),
        ("v2", "2026-12-01", 1, 1, 1),
    }
    assert v1 is not None
    assert (v1.revision, len(v1.days)) == (1, 2)

    migrate.downgrade(engine, "0001")
    assert migrate.current(engine) == "0001"
    assert _schema(engine) == before_0001
    with engine.connect() as connection:
        keys = dict(
            connection.execute(
                sa.select(_rows_0001.c.source_key, _rows_0001.c.label).order_by(_rows_0001.c.id)
            ).all()
        )
        assert connection.execute(sa.select(sa.func.count()).select_from(_leases_0001)).scalar_one() == 0
        assert connection.execute(sa.select(_state_0001.c.labels_at_last_request)).scalar_one() == 3
        assert connection.execute(sa.select(sa.func.count()).select_from(_verdicts_0001)).scalar_one() == 5
    # Merged rows stay merged, under the 0001 key of where their label was given.
    assert keys == {"row-0": 0, "row-1": 1, "row-2": 0, "b1/s2": 1, "b2/s3": 0}

    assert migrate.migrate_database(engine) == migrate.head()
    assert _schema(engine) == _schema(twin_engine)


@pytest.mark.parametrize("engine_fixture", ["pg_engine", "sqlite_engine"])
def test_tables_an_older_release_created_at_start_are_adopted_at_their_revision(
    engine_fixture: str, request: pytest.FixtureRequest, twin_engine: Engine
) -> None:
    engine: Engine = request.getfixturevalue(engine_fixture)
    # The 0001 tables with rows, as a release that created them at start left them: no version record.
    migrate.upgrade(engine, "0001")
    _fill_0001(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
    assert migrate.current(engine) is None

    assert migrate.migrate_database(engine) == migrate.head()
    Base.metadata.create_all(twin_engine)
    assert _schema(engine) == _schema(twin_engine)
    with Session(engine) as session:
        keys = set(session.scalars(sa.select(TrainingRow.source_key)))
    assert keys == {"row-0", "row-1", "row-2", row_hash(VECTORS["same"]), row_hash(VECTORS["other"])}
    if engine.dialect.name == "postgresql":
        # The scratch schema the comparison built was rolled back.
        assert "svmflow_migration_scratch" not in sa.inspect(engine).get_schema_names()


def test_tables_that_match_no_revision_are_refused(sqlite_engine: Engine) -> None:
    migrate.upgrade(sqlite_engine, "0001")
    with sqlite_engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("ALTER TABLE leases ADD COLUMN note text"))
    with pytest.raises(ValueError, match="match no revision"):
        migrate.migrate_database(sqlite_engine)
    assert migrate.current(sqlite_engine) is None
