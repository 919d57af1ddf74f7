"""``svmflow demo``: the whole loop, step by step, against running APIs (local or deployed).

It drives the system through ``svmflow.client``: submits banknotes from the bundled data set (with a
little measurement noise, so they are new records), waits for the predictions, corrects the wrong ones
with their true labels, waits for the retrain decision and shows the model history.
"""

from __future__ import annotations

import random
import shlex
import sys
import time
from pathlib import Path

from svmflow.client import Client as Client
from svmflow.client import ClientError, Evaluation
from svmflow.domain.training import read_seed_csv


class DemoError(Exception):
    pass


def command(*options: str) -> str:
    """The demo's command line as a banner prints it: this environment's own ``svmflow`` by its full
    path (``.venv/bin/svmflow`` after ``make install``), so it works as printed in a new shell, from
    any folder, with no uv on PATH."""
    installed = Path(sys.executable).with_name("svmflow")
    program = [str(installed)] if installed.exists() else [sys.executable, "-m", "svmflow"]
    return shlex.join([*program, "demo", *options])


def _say(step: int, text: str) -> None:
    print(f"\n[{step}/6] {text}", flush=True)


def _accuracy(evaluation: Evaluation | None) -> str:
    if evaluation is None:
        return "-"
    seed = evaluation.seed_holdout_accuracy
    text = f"seed hold-out {seed:.4f}" if seed is not None else "seed hold-out -"
    if evaluation.feedback_holdout_accuracy is not None:
        text += (
            f", feedback hold-out {evaluation.feedback_holdout_accuracy:.4f}"
            f" (n={evaluation.feedback_holdout_size})"
        )
    return text


def run(client: Client, data_path: Path, rows: int = 60, wait_seconds: float = 120.0) -> None:
    try:
        _run(client, data_path, rows, wait_seconds)
    except ClientError as exc:
        raise DemoError(f"{exc} (is the system running? `make run`)") from exc


def _run(client: Client, data_path: Path, rows: int, wait_seconds: float) -> None:
    model = client.current_model()
    _say(1, "The model in production")
    print("      client.current_model()")
    print(f"      version {model.version} ({_accuracy(model.evaluation)})")

    rng = random.Random()
    sample = rng.sample(read_seed_csv(data_path), rows)
    tag = time.strftime("%H%M%S")
    subjects = [f"note-{tag}-{i:03d}" for i in range(rows)]
    features = [[round(x + rng.gauss(0, 0.1), 4) for x in row.features] for row in sample]
    truth = {s: row.label for s, row in zip(subjects, sample, strict=True)}
    _say(2, f"Submit a batch of {rows} banknotes to the ingest API")
    [accepted] = client.submit(features, subjects)
    print(f"      client.submit(rows, subjects): POST /v1/batches -> 202, batch {accepted.batch_id}")
    print(f"      results at {accepted.location}")

    _say(3, "Wait for the predictions (the client polls with backoff)")
    started = time.monotonic()
    batch = client.wait(accepted.batch_id, timeout=wait_seconds)
    print(f"      client.wait(batch_id) -> done in {time.monotonic() - started:.2f} s")
    right = sum(1 for r in batch.results if r.label == truth[r.subject])
    print(f"      model {batch.model_version}: {right} of {len(batch.results)} right")
    for r in batch.results[:3]:
        print(f"      {r.subject}: label {r.label} (score {r.score:+.3f}), truly {truth[r.subject]}")

    known_jobs = {job.job_id for job in client.jobs(limit=100)}
    ratings = {r.subject: int(r.label == truth[r.subject]) for r in batch.results}
    wrong = [s for s, rating in ratings.items() if rating == 0]
    _say(
        4, f"Send feedback: {len(ratings) - len(wrong)} confirmed, {len(wrong)} corrected with the true label"
    )
    client.rate(batch.batch_id, {s: 1 for s, rating in ratings.items() if rating == 1})
    if wrong:
        client.correct_many(batch.batch_id, {s: truth[s] for s in wrong})
    print(
        "      client.rate(batch_id, {subject: 1, ...}); client.correct_many(batch_id, {subject: label, ...})"
    )

    _say(5, "Watch for the retrain decision")
    deadline = time.monotonic() + wait_seconds
    job = None
    while job is None and time.monotonic() < deadline:
        # A job is listed from the moment it is requested; wait for one that has an outcome.
        job = next(
            (
                j
                for j in client.jobs(limit=100)
                if j.job_id not in known_jobs and j.decision not in ("queued", "running")
            ),
            None,
        )
        if job is None:
            time.sleep(1)
    if job is None:
        print("      no retrain yet: the system retrains after enough new labels")
        print("      (SVMFLOW_RETRAIN_MIN_NEW_LABELS, 50 by default); run the demo again to add more")
    else:
        print(f"      job {job.job_id}: {job.decision}")
        print(f"      why: {job.reason}")
        print(f"      in production now: {job.current_version}")

    _say(6, "Model history")
    current = client.current_model()
    for entry in client.models(limit=100):
        marker = "*" if entry.version == current.version else " "
        print(
            f"    {marker} {entry.version}  {entry.decision:9} train {entry.train_size:>5}  "
            f"{_accuracy(entry.evaluation)}"
        )
    print("      (* = in production)")
