from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest

from devstack.processes import free_port
from svmflow.config import Settings
from svmflow.contracts import TrainingRequest
from svmflow.db import job_queue
from svmflow.embedded import EmbeddedSystem
from svmflow.errors import SvmflowError
from tests.builders import dead_holder


def test_first_start_takes_over_the_training_claim_of_a_killed_run(settings: Settings) -> None:
    system = EmbeddedSystem(settings.with_(embedded_redis_port=free_port()), workers=2)
    try:
        request = TrainingRequest(request_id="manual-killed", reason="manual", requested_at=datetime.now(UTC))
        # The killed run was training with a lease of ten minutes: its process is gone, so it counts
        # for nothing.
        admission = job_queue.admit(system.container.db, request, dead_holder(), lease_seconds=600)
        assert admission.verdict == "run"
        started = time.monotonic()
        system.start()
        assert time.monotonic() - started < 60
        current = system.container.read_model.current_model()
        assert current is not None
        assert current.decision == "promoted"
    finally:
        system.stop()


def test_a_second_system_on_one_state_directory_refuses_at_once(settings: Settings) -> None:
    first = EmbeddedSystem(settings.with_(embedded_redis_port=free_port()), workers=1)
    try:
        started = time.monotonic()
        with pytest.raises(SvmflowError, match="already running on the state directory"):
            EmbeddedSystem(settings.with_(embedded_redis_port=free_port()), workers=1)
        assert time.monotonic() - started < 5
    finally:
        first.stop()
    # Stopped: the directory is free again.
    EmbeddedSystem(settings.with_(embedded_redis_port=free_port()), workers=1).stop()


def test_a_second_run_names_the_state_directory_not_the_ports_it_shares(
    settings: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second `svmflow run` on a state directory usually asks for the same ports too; the lock is
    what it must report, since that is what the user has to change."""
    from svmflow import cli

    held = settings.with_(embedded_redis_port=free_port())
    first = EmbeddedSystem(held, workers=1)
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        monkeypatch.setenv("SVMFLOW_STATE_DIR", str(held.state_dir))
        monkeypatch.setenv("SVMFLOW_INGEST_PORT", str(busy.getsockname()[1]))
        code = cli.main(["run"])
    finally:
        busy.close()
        first.stop()
    assert code != 0
    error = capsys.readouterr().err
    assert "already running on the state directory" in error
    assert "in use" not in error
