"""A bad promotion over the emulated stack: its rated predictions fall far below its predecessor's,
feedback-to-performance asks for a rollback, the rollback function re-points production, clients see
the rollback with its reason in /v1/models, and the next batch is served by the predecessor."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from svmflow.db import job_queue
from svmflow.db.tables import RetrainState
from tests.builders import promote_by_hand, true_labels
from tests.emulated_harness import EmulatedRun, wait_until

pytestmark = pytest.mark.e2e


def rated_honestly(run: EmulatedRun, rows: int, offset: int) -> Any:
    """A batch predicted, then every subject rated against the true label; returns the batch's view."""
    view = run.wait_done(run.accepted(rows=rows, offset=offset))
    truth = true_labels(rows=rows, offset=offset)
    body = {
        "subjects": [r["subject"] for r in view["results"]],
        "ratings": [int(r["label"] == t) for r, t in zip(view["results"], truth, strict=True)],
    }
    status, answer, _ = run.client.call(
        "PATCH", f"{run.stack.predict_url}/v1/batches/{view['batch_id']}", body
    )
    assert status == 202, answer
    return view


def no_training_pending(run: EmulatedRun) -> bool:
    return not any(r.status in ("queued", "running") for r in job_queue.records(run.container.db, limit=1000))


@contextmanager
def retraining_held(run: EmulatedRun) -> Iterator[None]:
    """Only the rollback is under test: the retraining counter is set so the ratings made meanwhile
    cannot ask for a retraining, then given its thresholds back. Earlier tests of the session leave it
    anywhere below its threshold, and a bad model's wrong answers would also trip the drift trigger,
    whose retraining could replace the bad model first (the rollback is then refused: production moved
    on)."""
    with run.container.db.transaction() as session:
        state = session.get(RetrainState, 1)
        assert state is not None
        kept = {"labels_needed": state.labels_needed, "reference_error": state.reference_error}
        session.execute(
            update(RetrainState)
            .where(RetrainState.id == 1)
            .values(
                labels_at_last_request=RetrainState.labels_total,
                labels_needed=10_000,
                sample_rated=0,
                sample_wrong=0,
                reference_error=None,
                updated_at=datetime.now(UTC),
            )
        )
    try:
        yield
    finally:
        with run.container.db.transaction() as session:
            session.execute(update(RetrainState).where(RetrainState.id == 1).values(**kept))


def test_a_bad_promotion_is_rolled_back_automatically(emulated: EmulatedRun) -> None:
    run = emulated
    # The serving model earns a live accuracy (whatever retraining these labels ask for ends first).
    for offset in (100, 400, 900):
        rated_honestly(run, 30, offset)
    wait_until(lambda: no_training_pending(run), 120, "the retraining these labels asked for")
    predecessor = run.current_model()["version"]
    wait_until(
        lambda: run.container.read_model.performance_json(predecessor) is not None,
        30,
        "the predecessor's live performance",
    )

    bad = promote_by_hand(run.container, 1.0, inverted=True)
    view = wait_until(
        lambda: (v := run.wait_done(run.accepted(rows=5, offset=1200)))["model_version"] == bad and v,
        30,
        "a batch served by the bad model",
        interval=0.5,
    )
    assert view["model_version"] == bad
    with retraining_held(run):
        rated_at = time.monotonic()
        rated_honestly(run, 30, 1000)

        def rollback_jobs() -> list[Any]:
            status, jobs, _ = run.client.call("GET", f"{run.stack.predict_url}/v1/jobs")
            assert status == 200
            return [
                j for j in jobs["items"] if j["decision"] == "rolled_back" and j["previous_version"] == bad
            ]

        # The bad version was deployed by hand, so no event put it in /v1/models/current: the rollback's is
        # the first to name it.
        rollbacks = wait_until(rollback_jobs, 60, "the automatic rollback in /v1/jobs", interval=0.5)
        assert len(rollbacks) == 1
        assert rollbacks[0]["current_version"] == predecessor
        assert f"rolled back from {bad} to {predecessor}: automatic rollback" in rollbacks[0]["reason"]
        assert "significantly below" in rollbacks[0]["reason"]
    rolled = wait_until(
        lambda: (m := run.current_model())["decision"] == "rolled_back" and m,
        30,
        "the rollback in /v1/models/current",
        interval=0.5,
    )
    assert rolled["version"] == predecessor
    assert rolled["job_id"] == rollbacks[0]["job_id"]

    # The next batch is the predecessor's, within the 60 s the pointer flip may take.
    served = wait_until(
        lambda: (v := run.wait_done(run.accepted(rows=5, offset=1210)))["model_version"] == predecessor and v,
        60,
        "a batch served by the predecessor again",
        interval=0.5,
    )
    assert served["model_version"] == predecessor
    print(f"\nrated to served by the predecessor: {time.monotonic() - rated_at:.1f} s")
