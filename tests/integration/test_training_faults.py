"""Faults in the middle of a training on the emulated stack: the training function killed with -9,
frozen with SIGSTOP past its lease, and PostgreSQL restarted. Every training request keeps a job
record, none is dead-lettered, and retraining resumes well within a minute."""

from __future__ import annotations

import os
import signal
import socket
import time
from datetime import UTC, datetime

import psutil
import pytest

from svmflow import operations, topology
from svmflow.contracts import TrainingRequest
from svmflow.db import job_queue
from svmflow.db.tables import TrainingRequestRecord
from svmflow.messaging import publish
from tests.emulated_harness import TUNING, EmulatedRun, wait_until

pytestmark = pytest.mark.integration

ENDED = ("promoted", "rejected")
LEASE_SECONDS = float(TUNING["SVMFLOW_TRAINING_LEASE_SECONDS"])


def request(run: EmulatedRun, name: str) -> str:
    request_id = f"manual-{name}-{time.time_ns()}"
    message = TrainingRequest(request_id=request_id, reason="manual", requested_at=datetime.now(UTC))
    publish(run.container.publisher, topology.TRAINING_REQUESTS, message)
    return request_id


def status(run: EmulatedRun, request_id: str) -> str | None:
    try:
        with run.container.db.transaction() as session:
            record = session.get(TrainingRequestRecord, request_id)
            return None if record is None else record.status
    except Exception:  # the database is restarting
        return None


def holder(run: EmulatedRun, request_id: str) -> str | None:
    """Who holds the request's running job, if it is running."""
    with run.container.db.transaction() as session:
        record = session.get(TrainingRequestRecord, request_id)
        return record.holder if record is not None and record.status == "running" else None


def holder_of(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}:"


def training_dead_letters(run: EmulatedRun) -> int:
    return sum(
        1 for d in run.container.dead_letters.list_dead_letters() if d.topic == topology.TRAINING_REQUESTS
    )


def training_worker(run: EmulatedRun) -> int:
    """The process that runs the training function: functions-framework's gunicorn worker. Its
    arbiter starts another when it dies, as Cloud Run replaces a crashed instance."""
    master = run.stack.functions["training"].pid
    assert master is not None
    workers = wait_until(lambda: psutil.Process(master).children(), 30, "the training worker")
    return int(workers[0].pid)


def frozen_mid_training(run: EmulatedRun, name: str) -> tuple[str, int]:
    """A request whose training is running, its worker frozen with SIGSTOP while it trains."""
    for attempt in range(5):
        request_id = request(run, f"{name}{attempt}")
        started = lambda rid=request_id: status(run, rid) in ("running", *ENDED)  # noqa: E731
        wait_until(started, 60, f"{request_id} to start")
        pid = training_worker(run)
        os.kill(pid, signal.SIGSTOP)
        if status(run, request_id) == "running":
            return request_id, pid
        os.kill(pid, signal.SIGCONT)  # it finished before the freeze: try again
        wait_until(lambda: not job_pending(run), 60, "the system to settle")
    raise AssertionError("no training could be caught while running")


def job_pending(run: EmulatedRun) -> bool:
    return any(r.status in ("queued", "running") for r in job_queue.records(run.container.db, 1000))


def test_a_training_killed_mid_run_is_taken_over_and_a_request_during_the_outage_is_kept(
    emulated: EmulatedRun,
) -> None:
    run = emulated
    dead_before = training_dead_letters(run)
    killed, pid = frozen_mid_training(run, "killed")
    os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    waiting = request(run, "during-outage")  # arrives while the worker is replaced
    # The claim moves to a live process: the killed job trains again, or a job that covers it does.
    dead = holder_of(pid)
    wait_until(lambda: not (holder(run, killed) or "").startswith(dead), 60, "the claim to move")
    resumed = time.monotonic() - killed_at
    wait_until(lambda: status(run, killed) in (*ENDED, "covered"), 240, "the killed job's answer")
    wait_until(lambda: status(run, waiting) in (*ENDED, "covered"), 240, "the waiting request's answer")
    assert {status(run, killed), status(run, waiting)} & set(ENDED)  # one of them trained
    assert resumed < 60
    assert training_dead_letters(run) == dead_before
    print(f"\nkill -9 mid-training: retraining resumed after {resumed:.1f} s")


def test_a_frozen_training_loses_its_claim_after_the_lease(emulated: EmulatedRun) -> None:
    run = emulated
    dead_before = training_dead_letters(run)
    frozen, pid = frozen_mid_training(run, "frozen")
    frozen_at = time.monotonic()
    try:
        time.sleep(LEASE_SECONDS + 1)
        # An operator's `svmflow train` from another process: the frozen claim has run out.
        event = operations.train(run.container)
        resumed = time.monotonic() - frozen_at
        assert event.decision in ENDED, event
        assert status(run, frozen) == "covered"
    finally:
        os.kill(pid, signal.SIGCONT)
    wait_until(lambda: not job_pending(run), 240, "every job to end")
    assert training_dead_letters(run) == dead_before
    print(f"\nSIGSTOP mid-training: retraining resumed after {resumed:.1f} s")


def test_postgres_restarted_mid_training_costs_no_more_than_the_restart(emulated: EmulatedRun) -> None:
    run = emulated
    dead_before = training_dead_letters(run)
    request_id = request(run, "pg-restart")
    wait_until(lambda: holder(run, request_id), 60, f"{request_id} to start")
    first_holder = holder(run, request_id)
    run.postgres.stop()
    stopped_at = time.monotonic()
    time.sleep(2)
    run.postgres.start()
    later = request(run, "after-restart")

    def training_again() -> bool:
        try:
            now = holder(run, request_id)
        except Exception:  # still restarting
            return False
        return (now is not None and now != first_holder) or status(run, request_id) in ENDED

    wait_until(training_again, 60, "a training to run again after the restart")
    resumed = time.monotonic() - stopped_at
    answered = (*ENDED, "covered")
    wait_until(lambda: status(run, request_id) in answered, 240, "the job's answer after the restart")
    wait_until(lambda: status(run, later) in answered, 240, "the next request's answer")
    assert {status(run, request_id), status(run, later)} & set(ENDED)  # one of them trained
    assert resumed < 60
    assert training_dead_letters(run) == dead_before
    print(f"\nPostgreSQL restart mid-training: retraining resumed after {resumed:.1f} s")
