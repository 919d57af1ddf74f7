"""Training requests as jobs: recorded on arrival, coalesced, single flight, claims freed when a training
dies or freezes, never an error because the service is busy."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from svmflow import contracts, topology
from svmflow.bootstrap import Container
from svmflow.contracts import ModelEvent, TrainingRequest
from svmflow.db import job_queue
from svmflow.db.tables import TrainingJob, TrainingRequestRecord, TrainingRow
from svmflow.domain.training import FEEDBACK
from svmflow.handlers import training, training_to_cache, training_to_db
from svmflow.messaging import EventContext
from tests.builders import dead_holder, encoded
from tests.conftest import new_delivery
from tests.fakes import RecordingPublisher


def add_feedback_rows(container: Container, count: int) -> int:
    """``count`` more feedback labels in the training table; returns how many there are now."""
    now = datetime.now(UTC)
    with container.db.transaction() as session:
        start = session.query(TrainingRow).filter(TrainingRow.source == FEEDBACK).count()
        container.db.insert_ignore(
            session,
            TrainingRow,
            [
                {
                    "source": FEEDBACK,
                    "source_key": f"b/{start + i}",
                    "features": [3.6 + (start + i) / 1000, 8.6, -2.8, -0.4],
                    "label": 0,
                    "row_hash": f"{start + i:064d}",
                    "holdout": False,
                    "labelled_at": now,
                    "created_at": now,
                }
                for i in range(count)
            ],
        )
    return start + count


def deliver(container: Container, request_id: str, reason: str = "labels") -> str:
    request = TrainingRequest(request_id=request_id, reason=reason, requested_at=datetime.now(UTC))  # type: ignore[arg-type]
    return container.processor("training").process(new_delivery(topology.TRAINING_REQUESTS, encoded(request)))


def record(container: Container, request_id: str) -> TrainingRequestRecord:
    with container.db.transaction() as session:
        found = session.get(TrainingRequestRecord, request_id)
    assert found is not None, f"no record of {request_id}"
    return found


def wait_for(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


class GatedTraining:
    """Holds the first training at a gate and counts how many run at once."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.gate = threading.Event()
        self.trained: list[str] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()
        real = training.train_and_decide

        def gated(job_id: str, *args: object, **kwargs: object) -> ModelEvent:
            with self._lock:
                self.running += 1
                self.most_at_once = max(self.most_at_once, self.running)
                self.trained.append(job_id)
            try:
                self.gate.wait(30)
                return real(job_id, *args, **kwargs)  # type: ignore[arg-type]
            finally:
                with self._lock:
                    self.running -= 1

        monkeypatch.setattr(training, "train_and_decide", gated)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> GatedTraining:
    return GatedTraining(monkeypatch)


@pytest.fixture
def background() -> Iterator[list[threading.Thread]]:
    threads: list[threading.Thread] = []
    yield threads
    for thread in threads:
        thread.join(60)


def test_requests_during_a_training_join_one_queued_job_and_nothing_fails(
    trained: Container,
    publisher: RecordingPublisher,
    gated: GatedTraining,
    background: list[threading.Thread],
) -> None:
    add_feedback_rows(trained, 40)
    first = threading.Thread(target=deliver, args=(trained, "labels-10"))
    background.append(first)
    first.start()
    wait_for(lambda: gated.trained == ["job-labels-10"])
    assert record(trained, "labels-10").status == "running"
    assert record(trained, "labels-10").labels_seen == 40

    add_feedback_rows(trained, 30)  # 70 labels now: more than the running job reads
    assert deliver(trained, "labels-20") == "done"  # the running job already trains on these
    assert deliver(trained, "labels-50") == "done"  # more than it reads: queued, not an error
    assert deliver(trained, "labels-60") == "done"  # joins the queued job
    assert deliver(trained, "labels-70") == "done"
    assert deliver(trained, "labels-50") == "done"  # a redelivery changes nothing
    assert record(trained, "labels-20").status == "covered"
    assert record(trained, "labels-20").covered_by == "job-labels-10"
    assert record(trained, "labels-50").status == "queued"
    for joined in ("labels-60", "labels-70"):
        assert record(trained, joined).status == "covered"
        assert record(trained, joined).covered_by == "job-labels-50"
    assert record(trained, "labels-50").labels_wanted == 70

    gated.gate.set()
    first.join(60)
    # The running job's delivery went on to train the queued one: two trainings for five requests.
    assert gated.trained == ["job-labels-10", "job-labels-50"]
    assert gated.most_at_once == 1
    assert record(trained, "labels-10").status in ("promoted", "rejected")
    assert record(trained, "labels-50").status in ("promoted", "rejected")
    assert record(trained, "labels-50").labels_seen == 70

    # Out of order: a request for fewer labels than a finished job trained on is covered, not a failure.
    assert deliver(trained, "labels-30") == "done"
    late = record(trained, "labels-30")
    assert (late.status, late.covered_by) == ("covered", "job-labels-50")
    assert "covered by job job-labels-50" in late.detail
    assert gated.trained == ["job-labels-10", "job-labels-50"]

    # Every request has a job the read model shows, in its last state.
    decisions = {e.job_id: e.decision for e in events(publisher)}
    assert decisions["job-labels-20"] == "covered"
    assert decisions["job-labels-30"] == "covered"
    assert decisions["job-labels-60"] == "covered"
    assert decisions["job-labels-50"] in ("promoted", "rejected")


def events(publisher: RecordingPublisher) -> list[ModelEvent]:
    return [contracts.decode(m.data, ModelEvent) for m in publisher.on(topology.MODELS)]


def test_a_killed_training_frees_its_claim_at_once_and_its_redelivery_trains(trained: Container) -> None:
    request = TrainingRequest(request_id="labels-5", reason="labels", requested_at=datetime.now(UTC))
    assert job_queue.admit(trained.db, request, dead_holder(), lease_seconds=600).verdict == "run"
    started = time.monotonic()
    assert (
        trained.processor("training").process(new_delivery(topology.TRAINING_REQUESTS, encoded(request)))
        == "done"
    )
    assert time.monotonic() - started < 30
    done = record(trained, "labels-5")
    assert done.status in ("promoted", "rejected")
    assert done.attempts == 2


def test_a_frozen_training_loses_its_claim_when_its_lease_runs_out(trained: Container) -> None:
    frozen = TrainingRequest(request_id="manual-frozen", reason="manual", requested_at=datetime.now(UTC))
    # Another machine's training that stopped renewing its one-second lease.
    assert job_queue.admit(trained.db, frozen, "elsewhere:4242:cafe", lease_seconds=1).verdict == "run"
    assert deliver(trained, "manual-early", reason="manual") == "done"
    assert record(trained, "manual-early").status == "queued"  # the lease is still live
    time.sleep(1.2)
    assert deliver(trained, "manual-late", reason="manual") == "done"
    # The late request trained, on everything the frozen and the queued job asked for.
    assert record(trained, "manual-late").status in ("promoted", "rejected")
    for joined in ("manual-frozen", "manual-early"):
        assert (record(trained, joined).status, record(trained, joined).covered_by) == (
            "covered",
            "job-manual-late",
        )


def test_the_heartbeat_keeps_a_long_training_claimed(
    trained: Container, gated: GatedTraining, background: list[threading.Thread]
) -> None:
    short = Container(
        trained.settings.with_(training_lease_seconds=1),
        db=trained.db,
        bucket=trained.bucket,
        publisher=trained.publisher,
        redis=trained.redis,
    )
    first = threading.Thread(target=deliver, args=(short, "manual-long", "manual"))
    background.append(first)
    first.start()
    wait_for(lambda: gated.trained == ["job-manual-long"])
    time.sleep(2.5)  # more than twice the lease: only the heartbeat keeps it
    assert deliver(short, "manual-next", reason="manual") == "done"
    assert record(short, "manual-next").status == "queued"
    assert gated.running == 1
    gated.gate.set()
    first.join(60)
    assert gated.most_at_once == 1
    assert record(short, "manual-next").status in ("promoted", "rejected")


def test_a_transient_failure_puts_the_job_back_in_the_queue_with_the_error(
    trained: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> ModelEvent:
        raise ConnectionError("bucket unreachable")

    monkeypatch.setattr(training, "train_and_decide", broken)
    with pytest.raises(ConnectionError):
        deliver(trained, "manual-flaky", reason="manual")
    waiting = record(trained, "manual-flaky")
    assert waiting.status == "queued"
    assert "will be retried: ConnectionError: bucket unreachable" in waiting.detail
    monkeypatch.undo()
    assert deliver(trained, "manual-flaky", reason="manual") == "done"
    assert record(trained, "manual-flaky").status in ("promoted", "rejected")


def job_event(decision: str, at: datetime) -> ModelEvent:
    return ModelEvent(
        job_id="job-x",
        request_id="x",
        decision=decision,  # type: ignore[arg-type]
        reason=decision,
        candidate_version=None,
        current_version=None,
        previous_version=None,
        finished_at=at,
    )


def test_a_late_pending_state_never_hides_an_outcome(trained: Container) -> None:
    early, later = datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC)
    # Delivered out of order: the outcome, then the queued and running states that preceded it.
    for n, event in enumerate(
        [job_event("rejected", early), job_event("queued", later), job_event("running", later)]
    ):
        context = EventContext(f"event-{n}", {})
        training_to_cache.handle(event, context, read_model=trained.read_model)
        training_to_db.handle(event, context, db=trained.db)
    [job] = [j for j in trained.read_model.jobs() if j.job_id == "job-x"]
    assert job.decision == "rejected"
    with trained.db.transaction() as session:
        stored = session.get(TrainingJob, "job-x")
        assert stored is not None
        assert stored.decision == "rejected"
    # And a pending job shows its newest state.
    queued, running = job_event("queued", early), job_event("running", later)
    queued.job_id = running.job_id = "job-y"  # type: ignore[misc]
    for n, event in enumerate([running, queued]):
        training_to_cache.handle(event, EventContext(f"y-{n}", {}), read_model=trained.read_model)
    [job] = [j for j in trained.read_model.jobs() if j.job_id == "job-y"]
    assert job.decision == "running"
