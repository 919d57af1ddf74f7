"""Secrets come from Secret Manager (a local server speaking its gRPC API): the Postgres password that
the functions connect with, the API keys that the APIs accept, the key that signs batch ids. None of
them appears in any process's output."""

from __future__ import annotations

import logging

import psycopg
import pytest

from svmflow.adapters.secrets import SecretManagerSecrets, make_secret_manager_client
from svmflow.bootstrap import Container
from tests.emulated_harness import EmulatedRun

pytestmark = pytest.mark.integration


def test_the_database_password_comes_from_secret_manager(emulated: EmulatedRun) -> None:
    run = emulated
    pg = run.postgres
    # This PostgreSQL requires the password: none, or a wrong one, is refused.
    for password in ("", "not-the-password"):
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(
                host="127.0.0.1", port=pg.port, user="postgres", password=password, dbname=run.database
            )
    # The stack's URL carries no password; the processes read it from Secret Manager and connected.
    assert run.secret_values["db-password"] not in run.stack.config.database_url
    manager = run.stack.secret_manager
    assert manager is not None
    assert manager.reads["svmflow-db-password"] >= 2  # this process and at least one function
    secrets_port = SecretManagerSecrets(
        make_secret_manager_client(manager.endpoint), "svmflow-local", "svmflow-"
    )
    assert secrets_port.get("db-password") == run.secret_values["db-password"]
    with Container(run.stack.settings()).db.transaction() as session:
        assert session.connection().exec_driver_sql("select current_user").scalar() == "postgres"


def test_api_keys_come_from_secret_manager(emulated: EmulatedRun) -> None:
    run = emulated
    url = f"{run.stack.predict_url}/v1/models/current"
    assert run.client.call("GET", url)[0] == 200
    local_default = type(run.client)(run.stack.ingest_url, run.stack.predict_url, "dev-local-key")
    assert local_default.call("GET", url)[0] == 401
    assert run.stack.secret_manager is not None
    assert run.stack.secret_manager.reads["svmflow-api-keys"] >= 2  # both APIs


def test_no_secret_is_printed(emulated: EmulatedRun, caplog: pytest.LogCaptureFixture) -> None:
    run = emulated
    caplog.set_level(logging.DEBUG)
    # Work that touches every secret in this process too: a batch, a poll, a wrong key.
    batch_id = run.accepted(rows=3, offset=1320)
    run.wait_done(batch_id)
    type(run.client)(run.stack.ingest_url, run.stack.predict_url, "wrong-key").call(
        "GET", f"{run.stack.predict_url}/v1/batches/{batch_id}"
    )
    Container(run.stack.settings()).db  # noqa: B018
    outputs = {"the processes' logs": run.logs(), "this process's log records": caplog.text}
    for name, value in run.secret_values.items():
        for where, text in outputs.items():
            assert value not in text, f"the {name} secret appears in {where}"
    assert repr(run.stack.secret_manager).count("key-") == 0
