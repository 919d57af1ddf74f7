"""Transient faults on the real services: Redis, then Postgres, is stopped while batches flow and started
again. Every accepted batch becomes pollable and is stored, none twice, and nothing is dead-lettered:
the functions fail, Pub/Sub redelivers with backoff, and the retries succeed once the server is back.

The servers are this session's own (see tests/emulated_harness.py), stopped for real: connections in the
pools are cut and new ones refused, as in a failover or a restart of the managed service."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from api.batch_ids import BatchIds
from svmflow import topology
from svmflow.db.tables import Prediction, PredictionBatch
from svmflow.messaging import publish
from tests.builders import prediction_request
from tests.emulated_harness import EmulatedRun, wait_until

pytestmark = pytest.mark.integration

# Down until a function has failed on a batch, then this much longer: inside the redelivery window
# (five attempts about a second apart), so the retries, not a replay, bring every batch through.
FAILING_SECONDS = 1.0
ROWS = 8


def publish_accepted(run: EmulatedRun, offset: int) -> str:
    """What an ingest instance does with a batch it accepts: a signed id, then a confirmed publish."""
    batch_id = BatchIds(run.container.secrets).issue()
    request = prediction_request(batch_id, rows=ROWS, offset=offset)
    publish(run.container.publisher, topology.PREDICTION_REQUESTS, request, batch_id=batch_id)
    return batch_id


def listed_batch_ids(run: EmulatedRun) -> list[str]:
    found: list[str] = []
    url = f"{run.stack.predict_url}/v1/batches?limit=100"
    while url:
        status, page, _ = run.client.call("GET", url)
        assert status == 200, page
        found += [item["batch_id"] for item in page["items"]]
        cursor = page.get("next_cursor")
        url = f"{run.stack.predict_url}/v1/batches?limit=100&cursor={quote(cursor)}" if cursor else ""
    return found


def stored(run: EmulatedRun, batch_ids: list[str]) -> dict[str, tuple[int, int]]:
    """batch id -> (rows in prediction_batches, rows in predictions)."""
    with run.container.db.transaction() as session:
        batches = Counter(
            session.scalars(select(PredictionBatch.batch_id).where(PredictionBatch.batch_id.in_(batch_ids)))
        )
        predictions = dict(
            session.execute(
                select(Prediction.batch_id, func.count())
                .where(Prediction.batch_id.in_(batch_ids))
                .group_by(Prediction.batch_id)
            ).all()
        )
    return {b: (batches.get(b, 0), predictions.get(b, 0)) for b in batch_ids}


def transient_failures(run: EmulatedRun, function: str, batch_ids: list[str], since: str = "") -> int:
    """Failed deliveries: the processor's own line for these batches, or (when the dependency was
    already down as the function built its connections) the framework's 500 after ``since``."""
    count = 0
    for line in (run.stack.log_dir / f"fn-{function}.log").read_text().splitlines():
        if not line.startswith("{"):
            continue
        entry = json.loads(line)
        if entry["message"].startswith("transient failure"):
            count += entry.get("batch_id") in batch_ids
        elif since and entry["message"].startswith("Exception on /projects/"):
            count += entry["time"] >= since
    return count


def outage_seen(run: EmulatedRun, function: str, batch_ids: list[str], since: str) -> None:
    """Keep the server down until the function has failed on one of these batches (the emulator pushes
    to a subscription that was idle only after a few seconds), then FAILING_SECONDS longer."""
    wait_until(
        lambda: transient_failures(run, function, batch_ids, since) > 0,
        timeout=30,
        what=f"{function} to fail during the outage",
        interval=0.1,
    )
    time.sleep(FAILING_SECONDS)


def assert_each_once(run: EmulatedRun, accepted: list[str]) -> None:
    views: dict[str, Any] = {b: run.wait_done(b, timeout=60) for b in accepted}
    for batch_id, view in views.items():
        assert len(view["results"]) == ROWS, batch_id
    wait_until(
        lambda: stored(run, accepted) == dict.fromkeys(accepted, (1, ROWS)),
        timeout=60,
        what="every batch stored once in Postgres",
    )
    listed = Counter(listed_batch_ids(run))
    assert {b: listed[b] for b in accepted} == dict.fromkeys(accepted, 1)
    dead = [
        d for d in run.container.dead_letters.list_dead_letters() if d.attributes.get("batch_id") in accepted
    ]
    assert dead == []


def test_redis_outage_while_batches_flow(emulated: EmulatedRun) -> None:
    run = emulated
    accepted = [run.accepted(rows=ROWS, offset=1100 + i * ROWS) for i in range(3)]
    for batch_id in accepted:  # the cache function is warm, with connections to lose
        run.wait_done(batch_id)
    since = datetime.now(UTC).isoformat()
    run.redis.stop()
    try:
        # The ingest API cannot check the batch against the current model: it refuses, writes nothing.
        status, problem = run.submit(rows=ROWS, offset=1140)
        assert status == 503, problem
        # Batches accepted just before the outage are still in flight.
        during = [publish_accepted(run, offset=1150 + i * ROWS) for i in range(4)]
        accepted += during
        outage_seen(run, "prediction_to_cache", during, since)
    finally:
        run.redis.start()
    accepted += [run.accepted(rows=ROWS, offset=1190 + i * ROWS) for i in range(2)]

    assert_each_once(run, accepted)
    assert transient_failures(run, "prediction_to_cache", during, since) >= 1


def test_postgres_outage_while_batches_flow(emulated: EmulatedRun) -> None:
    run = emulated
    accepted = [run.accepted(rows=ROWS, offset=1210 + i * ROWS) for i in range(2)]
    wait_until(  # the database function is warm, with pooled connections to lose
        lambda: stored(run, accepted) == dict.fromkeys(accepted, (1, ROWS)), 30, "the first batches stored"
    )
    since = datetime.now(UTC).isoformat()
    run.postgres.stop()
    try:
        # The APIs never touch Postgres: batches are accepted and answered throughout the outage.
        during = [run.accepted(rows=ROWS, offset=1230 + i * ROWS) for i in range(4)]
        accepted += during
        for batch_id in during:
            run.wait_done(batch_id, timeout=20)
        outage_seen(run, "prediction_to_db", during, since)
    finally:
        run.postgres.start()
    accepted += [run.accepted(rows=ROWS, offset=1270 + i * ROWS) for i in range(2)]

    assert_each_once(run, accepted)
    assert transient_failures(run, "prediction_to_db", during, since) >= 1
