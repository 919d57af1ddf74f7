"""Poison messages over the emulated stack: what can never be processed ends in the dead-letter topic,
and `svmflow dead-letters replay` publishes it again once the cause is fixed."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from svmflow import topology
from svmflow.contracts import Predictions
from svmflow.db.tables import FeedbackVerdict, PredictionBatch
from svmflow.messaging import DeadLetter, publish
from tests.builders import feedback
from tests.emulated_harness import POLICY, EmulatedRun, wait_until

pytestmark = pytest.mark.integration


def dead_letters_of(run: EmulatedRun, batch_id: str) -> list[DeadLetter]:
    return [
        d for d in run.container.dead_letters.list_dead_letters() if d.attributes.get("batch_id") == batch_id
    ]


def failures_logged(run: EmulatedRun, function: str, batch_id: str) -> int:
    """How many deliveries of this batch's message the function failed (a log line each)."""
    count = 0
    for line in (run.stack.log_dir / f"fn-{function}.log").read_text().splitlines():
        if batch_id in line and line.startswith("{"):
            entry = json.loads(line)
            count += entry.get("batch_id") == batch_id and entry["message"].startswith("transient failure")
    return count


def test_undecodable_message_is_dead_lettered_at_once(emulated: EmulatedRun) -> None:
    batch_id = f"junk-{secrets.token_hex(4)}"
    emulated.container.publisher.publish(
        topology.PREDICTION_REQUESTS, b"{not json", {"batch_id": batch_id}
    ).result(timeout=30)
    letters = wait_until(lambda: dead_letters_of(emulated, batch_id), 30, "the dead letter")
    assert [d.topic for d in letters] == [topology.PREDICTION_REQUESTS]
    assert letters[0].attributes["svmflow_function"] == "prediction"
    assert "invalid prediction-requests message" in letters[0].reason


def test_failing_message_is_dead_lettered_after_its_attempts_and_replayed_after_the_fix(
    emulated: EmulatedRun,
) -> None:
    run = emulated
    batch_id = f"poison-{secrets.token_hex(4)}"
    subjects = ["p0", "p1", "p2"]
    # Feedback on a batch that is not stored: every feedback function fails on every attempt.
    on_feedback = sorted(name for name, row in topology.FUNCTIONS.items() if row.topic == topology.FEEDBACK)
    assert len(on_feedback) >= 2
    publish(
        run.container.publisher, topology.FEEDBACK, feedback(batch_id, subjects, [1, 0, 1]), batch_id=batch_id
    )

    letters = wait_until(
        lambda: len(found := dead_letters_of(run, batch_id)) == len(on_feedback) and found,
        timeout=60,
        what="every feedback subscription to dead-letter the message",
        interval=0.5,
    )
    assert {d.topic for d in letters} == {topology.FEEDBACK}
    for function in on_feedback:
        assert failures_logged(run, function, batch_id) == POLICY.max_delivery_attempts, function

    # The fix: the batch's predictions arrive and are stored.
    now = datetime.now(UTC)
    predictions = Predictions(
        batch_id=batch_id,
        subjects=subjects,
        features=[[1.0, 2.0, 3.0, 4.0]] * 3,
        labels=[0, 1, 0],
        scores=[-1.0, 1.0, -1.0],
        model_version=run.current_model()["version"],
        submitted_at=now,
        predicted_at=now,
    )
    publish(run.container.publisher, topology.PREDICTIONS, predictions, batch_id=batch_id)
    db = run.container.db

    def stored() -> bool:
        with db.transaction() as session:
            return session.get(PredictionBatch, batch_id) is not None

    wait_until(stored, 30, "the batch to be stored")

    # The operator replays exactly these dead letters with the CLI.
    command = [sys.executable, "-m", "svmflow", "dead-letters", "replay"]
    for letter in letters:
        command += ["--id", letter.message_id]
    result = subprocess.run(
        command, env=run.stack.env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(on_feedback)} message(s) replayed" in result.stdout

    def verdicts() -> int:
        with db.transaction() as session:
            count = select(func.count()).where(FeedbackVerdict.batch_id == batch_id)
            return int(session.scalar(count) or 0)

    wait_until(lambda: verdicts() == len(subjects), 30, "the replayed feedback to be stored")
    assert dead_letters_of(run, batch_id) == []
