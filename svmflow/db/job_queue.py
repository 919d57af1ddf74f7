"""The training job queue in the database: one record per training request, at most one job running.

Every request is recorded the moment it arrives. Requests are coalesced: while a job runs, later
requests join one queued job that will train on all their labels, and a request whose labels a running
or finished job already trains on is recorded as covered by that job. The running job holds a short
lease that a heartbeat renews; a holder that crashed (its process is gone) or froze (its lease ran
out) loses the claim, and the job goes back to the queue.

Every decision is taken in one transaction under a queue-wide lock (a Postgres advisory lock; SQLite
serialises writers with ``BEGIN IMMEDIATE``), so two deliveries never both start a job.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Literal

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from svmflow.contracts import Decision, TrainingRequest
from svmflow.db.database import Database, as_utc
from svmflow.db.queries import feedback_row_count, labels_total
from svmflow.db.tables import TrainingRequestRecord

log = logging.getLogger(__name__)

# Final: each is its own Literal, so a record's status (a Decision) can be set to it.
QUEUED: Final = "queued"
RUNNING: Final = "running"
COVERED: Final = "covered"
FINAL = ("covered", "promoted", "rejected", "shadow", "failed")
# Jobs that trained on their labels: a later request asking for no more labels than they saw is covered.
TRAINED = (RUNNING, "promoted", "rejected", "shadow")
_ADVISORY_LOCK = 0x5F4D_4A0B  # any constant; names the training queue among the database's locks

Verdict = Literal["run", "queued", "covered", "done", "in_progress"]


@dataclass(frozen=True)
class Admission:
    """What to do with one delivery of a training request."""

    verdict: (
        Verdict  # run it now, it waits, another job covers it, already answered, another delivery runs it
    )
    record: TrainingRequestRecord


def job_id_for(request_id: str) -> str:
    return f"job-{request_id}"


def new_holder() -> str:
    """Who holds a claim: this host and process (so a holder that died on this host is noticed at
    once) and a token per claim (so two deliveries in one process are told apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(4).hex()}"


def labels_received(session: Session) -> int:
    """Labels a job reads, counted as the retraining trigger counts them (a changed label is a new
    one), so that a ``labels-<count>`` request compares with it; never fewer than the feedback rows."""
    return max(labels_total(session), feedback_row_count(session))


def labels_wanted(request: TrainingRequest, current: int) -> int:
    """Labels the request asks to be trained on: ``labels-<count>`` carries the count it saw."""
    if request.reason == "labels" and request.request_id.startswith("labels-"):
        tail = request.request_id.removeprefix("labels-")
        if tail.isdigit():
            return int(tail)
    return current


def _lock(session: Session, db: Database) -> None:
    if db.dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK})


def _holder_is_dead(holder: str | None) -> bool:
    """True when the holder ran on this host and its process is gone (kill -9 of a function)."""
    if not holder or holder.count(":") < 2:
        return False
    host, pid, _ = holder.rsplit(":", 2)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False  # this process: alive by definition (its heartbeat decides)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _requeue_abandoned(session: Session, now: datetime) -> None:
    """A running job whose lease ran out or whose process died goes back to the queue."""
    for record in session.scalars(
        select(TrainingRequestRecord).where(TrainingRequestRecord.status == RUNNING)
    ).all():
        expires = as_utc(record.lease_expires_at) if record.lease_expires_at else now
        if expires <= now or _holder_is_dead(record.holder):
            log.warning("training job %s lost its holder %s; queued again", record.job_id, record.holder)
            record.status = QUEUED
            record.detail = f"its training stopped (holder {record.holder} gone); queued again"
            record.holder = None
            record.lease_expires_at = None
            record.updated_at = now


def _covering_job(session: Session, wanted: int) -> TrainingRequestRecord | None:
    return session.scalars(
        select(TrainingRequestRecord)
        .where(
            TrainingRequestRecord.status.in_(TRAINED),
            TrainingRequestRecord.labels_seen >= wanted,
        )
        .order_by(TrainingRequestRecord.updated_at.desc())
        .limit(1)
    ).first()


def _first(session: Session, status: str, exclude: str | None = None) -> TrainingRequestRecord | None:
    query = select(TrainingRequestRecord).where(TrainingRequestRecord.status == status)
    if exclude is not None:
        query = query.where(TrainingRequestRecord.request_id != exclude)
    return session.scalars(query.order_by(TrainingRequestRecord.received_at).limit(1)).first()


def _claim(
    session: Session, record: TrainingRequestRecord, holder: str, lease_seconds: float, now: datetime
) -> None:
    record.status = RUNNING
    record.holder = holder
    record.lease_expires_at = now + timedelta(seconds=lease_seconds)
    record.labels_seen = labels_received(session)
    record.attempts += 1
    record.detail = f"training (attempt {record.attempts})"
    record.updated_at = now
    # Every other queued request trains on what this job reads: one job answers them all.
    for other in session.scalars(
        select(TrainingRequestRecord).where(
            TrainingRequestRecord.status == QUEUED,
            TrainingRequestRecord.request_id != record.request_id,
        )
    ).all():
        _cover(other, record, now)


def _cover(record: TrainingRequestRecord, by: TrainingRequestRecord, now: datetime) -> None:
    record.status = COVERED
    record.covered_by = by.job_id
    record.detail = f"covered by job {by.job_id} ({by.status}), which trains on its labels"
    record.holder = None
    record.lease_expires_at = None
    record.updated_at = now


def admit(db: Database, request: TrainingRequest, holder: str, lease_seconds: float) -> Admission:
    """Record the request if it is new and decide what this delivery does with it."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        _lock(session, db)
        _requeue_abandoned(session, now)
        record = session.get(TrainingRequestRecord, request.request_id)
        if record is not None and record.status in FINAL:
            return Admission("done", record)
        if record is not None and record.status == RUNNING:
            # Another delivery of this request trains it and its lease is live: it will answer.
            return Admission("in_progress", record)
        current = labels_received(session)
        if record is None:
            record = TrainingRequestRecord(
                request_id=request.request_id,
                job_id=job_id_for(request.request_id),
                reason=request.reason,
                status=QUEUED,
                covered_by=None,
                labels_wanted=labels_wanted(request, current),
                labels_seen=None,
                holder=None,
                lease_expires_at=None,
                attempts=0,
                detail="received",
                received_at=now,
                updated_at=now,
            )
            session.add(record)
            # An operator's request means "train now"; one from the label counter is answered by any
            # job that trains on at least its labels, so out-of-order requests are covered, not failed.
            if request.reason == "labels" and (cover := _covering_job(session, record.labels_wanted)):
                _cover(record, cover, now)
                return Admission("covered", record)
        running = _first(session, RUNNING)
        if running is not None:
            queued = _first(session, QUEUED, exclude=record.request_id)
            if queued is not None:
                queued.labels_wanted = max(queued.labels_wanted, record.labels_wanted)
                queued.updated_at = now
                _cover(record, queued, now)
                return Admission("covered", record)
            record.detail = f"queued behind job {running.job_id}, which is running"
            record.updated_at = now
            return Admission("queued", record)
        _claim(session, record, holder, lease_seconds, now)
        return Admission("run", record)


def claim_next(db: Database, holder: str, lease_seconds: float) -> TrainingRequestRecord | None:
    """After a job: start the queued one, if any and if nothing else runs."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        _lock(session, db)
        _requeue_abandoned(session, now)
        if _first(session, RUNNING) is not None:
            return None
        queued = _first(session, QUEUED)
        if queued is None:
            return None
        _claim(session, queued, holder, lease_seconds, now)
        return queued


def finish(db: Database, job_id: str, decision: Decision, detail: str) -> list[TrainingRequestRecord]:
    """Record a job's outcome; returns the queued requests its training covered as well."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        _lock(session, db)
        record = session.scalars(
            select(TrainingRequestRecord).where(TrainingRequestRecord.job_id == job_id)
        ).first()
        if record is None:
            return []
        record.status = decision
        record.detail = detail[:1000]
        record.holder = None
        record.lease_expires_at = None
        record.updated_at = now
        covered = []
        if decision in TRAINED and record.labels_seen is not None:
            for other in session.scalars(
                select(TrainingRequestRecord).where(
                    TrainingRequestRecord.status == QUEUED,
                    TrainingRequestRecord.reason == "labels",
                    TrainingRequestRecord.labels_wanted <= record.labels_seen,
                )
            ).all():
                _cover(other, record, now)
                covered.append(other)
        return covered


def requeue(db: Database, job_id: str, holder: str, error: str) -> None:
    """A transient failure: the job waits in the queue for its redelivery or the next job."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        session.connection().execute(
            update(TrainingRequestRecord)
            .where(
                TrainingRequestRecord.job_id == job_id,
                TrainingRequestRecord.status == RUNNING,
                TrainingRequestRecord.holder == holder,
            )
            .values(
                status=QUEUED,
                holder=None,
                lease_expires_at=None,
                detail=f"attempt failed, will be retried: {error}"[:1000],
                updated_at=now,
            )
        )


def renew(db: Database, job_id: str, holder: str, lease_seconds: float) -> bool:
    """Extend the lease; False if this holder lost it (it ran out while the process was frozen)."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        renewed = session.connection().execute(
            update(TrainingRequestRecord)
            .where(
                TrainingRequestRecord.job_id == job_id,
                TrainingRequestRecord.status == RUNNING,
                TrainingRequestRecord.holder == holder,
            )
            .values(lease_expires_at=now + timedelta(seconds=lease_seconds))
        )
        return bool(renewed.rowcount == 1)


def records(db: Database, limit: int = 50) -> list[TrainingRequestRecord]:
    """Newest first."""
    with db.transaction() as session:
        return list(
            session.scalars(
                select(TrainingRequestRecord).order_by(TrainingRequestRecord.received_at.desc()).limit(limit)
            ).all()
        )


class Heartbeat:
    """Renews a running job's lease every third of its length, in a thread, while training runs.

    A failed renewal (the database restarting) is retried at the next beat; the lease outlives two
    missed beats, so a short database restart does not cost the claim."""

    def __init__(self, db: Database, job_id: str, holder: str, lease_seconds: float) -> None:
        self._db, self._job_id, self._holder, self._lease = db, job_id, holder, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{job_id}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    def _beat(self) -> None:
        while not self._stop.wait(self._lease / 3):
            try:
                if not renew(self._db, self._job_id, self._holder, self._lease):
                    log.warning("training job %s lost its lease while running", self._job_id)
            except Exception as exc:  # the database is away: try again at the next beat
                log.warning("training job %s: lease renewal failed (%s)", self._job_id, exc)
