"""The whole loop through the HTTP APIs over the emulated stack: real Pub/Sub push, real Redis and
Postgres, fake-gcs-server, each function in its own functions-framework process."""

from __future__ import annotations

import statistics
import time

import pytest

from tests.builders import SHIFT, true_labels
from tests.emulated_harness import EmulatedRun, wait_until

pytestmark = pytest.mark.e2e

ROWS = 60


def test_ingest_feedback_retrain_promotion_next_batch(emulated: EmulatedRun) -> None:
    run = emulated
    champion = run.current_model()["version"]

    # 1. A batch from a drifted scanner (both classes) is accepted, then pollable, predicted by the
    # model in production.
    started = time.monotonic()
    batch_id = run.accepted(rows=ROWS, offset=730, shift=SHIFT)
    status, pending = run.poll(batch_id)
    assert status in (200, 202), pending
    view = run.wait_done(batch_id)
    print(f"\ningest to pollable: {(time.monotonic() - started) * 1000:.0f} ms")
    assert view["model_version"] == champion
    assert len(view["results"]) == ROWS

    # 2. Honest ratings of every subject (1 right, 0 wrong) through the predict API.
    truth = true_labels(rows=ROWS, offset=730)
    ratings = [int(r["label"] == t) for r, t in zip(view["results"], truth, strict=True)]
    body = {"subjects": [r["subject"] for r in view["results"]], "ratings": ratings}
    status, answer, _ = run.client.call("PATCH", f"{run.stack.predict_url}/v1/batches/{batch_id}", body)
    assert status == 202, answer

    # 3. Enough new labels trigger a retrain; the ratings show the champion drifted, the challenger is
    # promoted and the read model shows it.
    promoted = wait_until(
        lambda: (m := run.current_model())["version"] != champion and m,
        timeout=120,
        what="a promotion visible in /v1/models/current",
        interval=0.5,
    )
    assert promoted["decision"] == "promoted", promoted
    status, jobs, _ = run.client.call("GET", f"{run.stack.predict_url}/v1/jobs")
    assert status == 200
    assert jobs["items"][0]["current_version"] == promoted["version"]

    # 4. The next batch is served by the new version.
    next_id = run.accepted(rows=20, offset=800)
    next_view = run.wait_done(next_id)
    assert next_view["model_version"] == promoted["version"] != champion


def test_batches_become_pollable_quickly(emulated: EmulatedRun) -> None:
    """Ingest to pollable, one batch at a time: the figure the README quotes comes from bench/."""
    latencies = []
    for i in range(10):
        started = time.monotonic()
        batch_id = emulated.accepted(rows=20, offset=900 + i * 20)
        emulated.wait_done(batch_id)
        latencies.append(time.monotonic() - started)
    p50 = statistics.median(latencies)
    print(f"\ningest to pollable over {len(latencies)} batches: p50 {p50 * 1000:.0f} ms")
    assert p50 < 5.0
