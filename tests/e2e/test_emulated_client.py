"""svmflow.client on the emulated stack: real Pub/Sub push, Redis, Postgres and fake-gcs-server, the
APIs in processes of their own; 503s injected by a proxy in front of the ingest API."""

from __future__ import annotations

import csv
import io
import secrets

import pytest
from sqlalchemy import text

from svmflow.client import Client, RetryPolicy
from tests.builders import _ROWS
from tests.emulated_harness import EmulatedRun, wait_until
from tests.http_servers import FaultPlan, FaultyProxy, serving

pytestmark = pytest.mark.e2e

PATIENT = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.1)


def test_client_retries_503s_without_duplicates_and_reads_everything(emulated: EmulatedRun) -> None:
    stack = emulated.stack
    chosen = _ROWS[1000:1090]
    tag = secrets.token_hex(3)
    subjects = [f"{tag}-{i}" for i in range(len(chosen))]
    plan = FaultPlan("POST", "/v1/batches", ["lose", "refuse", "lose"])
    with (
        serving(FaultyProxy(stack.ingest_url, plan)) as ingest_url,
        Client(ingest_url, stack.predict_url, emulated.api_key, retry=PATIENT, batch_rows=40) as client,
    ):
        accepted = client.submit([list(r.features) for r in chosen], subjects)
        results = client.results(accepted, timeout=120)
        predictions = [p for r in results for p in r.results]
        answer = client.correct(results[0].batch_id, subjects[0], chosen[0].label)
        current = client.current_model()
        versions = client.models()
    assert [a.record_count for a in accepted] == [40, 40, 10]
    assert len({a.batch_id for a in accepted}) == 3
    # The lost answers named the batches the client then got: a retry never made a second batch.
    assert {lost["batch_id"] for lost in plan.lost_answers} <= {a.batch_id for a in accepted}
    assert [p.subject for p in predictions] == subjects
    assert answer.accepted == 1
    assert current.version in {v.version for v in versions}

    def stored() -> tuple[int, int]:
        """(rows, distinct batches) prediction-to-db has stored for these subjects; it runs beside the
        cache, so it may finish a little after the results became pollable."""
        with emulated.container.db.engine.connect() as conn:
            count, batches = conn.execute(
                text("SELECT count(*), count(DISTINCT batch_id) FROM predictions WHERE subject LIKE :t"),
                {"t": f"{tag}-%"},
            ).one()
        return int(count), int(batches)

    wait_until(lambda: stored()[0] >= len(chosen), timeout=60, what="the predictions in Postgres")
    assert stored() == (len(chosen), 3)


def test_bulk_file_in_the_emulated_bucket(emulated: EmulatedRun) -> None:
    bucket = emulated.container.bucket
    path = f"bulk/{secrets.token_hex(3)}/notes.csv"
    rows = _ROWS[:30]
    body = "variance,skewness,curtosis,entropy\n" + "".join(
        ",".join(repr(x) for x in r.features) + "\n" for r in rows
    )
    bucket.write(path, (body + "1,2,three,4\n").encode())
    with Client(emulated.stack.ingest_url, emulated.stack.predict_url, emulated.api_key) as client:
        job = client.submit_file(f"gs://{emulated.container.settings.model_bucket}/{path}")
        done = client.wait_file(job.job_id, timeout=120, interval=0.2)
    assert done.status == "done", done
    assert (done.rows_done, done.rows_failed) == (30, 1)
    assert done.model_version
    results = bucket.read((done.results_uri or "").removeprefix(bucket.uri_prefix))
    errors = bucket.read((done.errors_uri or "").removeprefix(bucket.uri_prefix))
    assert results is not None
    assert errors is not None
    assert len(list(csv.reader(io.StringIO(results.data.decode())))) == 31
    assert [row[0] for row in csv.reader(io.StringIO(errors.data.decode()))][1:] == ["32"]
