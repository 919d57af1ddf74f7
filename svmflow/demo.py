"""``svmflow demo``: the whole loop, step by step, against running APIs (local or deployed).

Standard library HTTP only, so it needs nothing the system does not already have. It submits banknotes
from the bundled data set (with a little measurement noise, so they are new records), polls for the
predictions, rates each one against the true label, waits for the retrain decision and shows the model
history.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from svmflow.domain.training import read_seed_csv


class DemoError(Exception):
    pass


@dataclass
class Client:
    ingest_url: str
    predict_url: str
    api_key: str

    def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (URLs given by the user)
        request.add_header("X-API-Key", self.api_key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, raw, headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, headers = error.code, error.read(), dict(error.headers)
        except urllib.error.URLError as error:
            raise DemoError(
                f"cannot reach {url}: {error.reason} (is the system running? `make run`)"
            ) from error
        try:
            return status, json.loads(raw or b"null"), headers
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace"), headers

    def expect(
        self, method: str, url: str, statuses: tuple[int, ...], body: Any = None
    ) -> tuple[int, Any, dict[str, str]]:
        status, answer, headers = self.call(method, url, body)
        if status not in statuses:
            raise DemoError(f"{method} {url} answered {status}: {answer}")
        return status, answer, headers


def _say(step: int, text: str) -> None:
    print(f"\n[{step}/6] {text}", flush=True)


def _accuracy(evaluation: dict[str, Any] | None) -> str:
    if not evaluation:
        return "-"
    seed = evaluation.get("seed_holdout_accuracy")
    feedback = evaluation.get("feedback_holdout_accuracy")
    text = f"seed hold-out {seed:.4f}" if seed is not None else "seed hold-out -"
    if feedback is not None:
        text += f", feedback hold-out {feedback:.4f} (n={evaluation.get('feedback_holdout_size')})"
    return text


def run(client: Client, data_path: Path, rows: int = 60, wait_seconds: float = 120.0) -> None:
    predict = client.predict_url.rstrip("/")
    _, model, _ = client.expect("GET", f"{predict}/v1/models/current", (200,))
    _say(1, "The model in production")
    print(f"      GET {predict}/v1/models/current")
    print(f"      version {model['version']} ({_accuracy(model.get('evaluation'))})")

    rng = random.Random()
    sample = rng.sample(read_seed_csv(data_path), rows)
    tag = time.strftime("%H%M%S")
    subjects = [f"note-{tag}-{i:03d}" for i in range(rows)]
    features = [[round(x + rng.gauss(0, 0.1), 4) for x in row.features] for row in sample]
    truth = {s: row.label for s, row in zip(subjects, sample, strict=True)}
    _say(2, f"Submit a batch of {rows} banknotes to the ingest API")
    url = f"{client.ingest_url.rstrip('/')}/v1/batches"
    _, accepted, headers = client.expect("POST", url, (202,), {"subjects": subjects, "features": features})
    location = headers.get("Location") or f"{predict}/v1/batches/{accepted['batch_id']}"
    print(f"      POST {url} -> 202, batch {accepted['batch_id']}")
    print(f"      Location: {location}")

    _say(3, "Poll the predict API until the predictions are in")
    deadline = time.monotonic() + wait_seconds
    while True:
        status, batch, _ = client.expect("GET", location, (200, 202))
        print(f"      GET {location} -> {status} {batch['status']}", flush=True)
        if status == 200:
            break
        if time.monotonic() > deadline:
            raise DemoError(f"batch still pending after {wait_seconds:.0f} s")
        time.sleep(0.5)
    results = batch["results"]
    right = sum(1 for r in results if r["label"] == truth[r["subject"]])
    print(f"      model {batch['model_version']}: {right} of {len(results)} right")
    for r in results[:3]:
        print(
            f"      {r['subject']}: label {r['label']} (score {r['score']:+.3f}), truly {truth[r['subject']]}"
        )

    _, jobs, _ = client.expect("GET", f"{predict}/v1/jobs?limit=100", (200,))
    known_jobs = {job["job_id"] for job in jobs["items"]}
    ratings = [1 if r["label"] == truth[r["subject"]] else 0 for r in results]
    _say(4, f"Send corrections: {ratings.count(1)} confirmed (1), {ratings.count(0)} corrected (0)")
    body = {"subjects": [r["subject"] for r in results], "ratings": ratings}
    client.expect("PATCH", location, (202,), body)
    print(f"      PATCH {location} -> 202")

    _say(5, "Watch for the retrain decision")
    deadline = time.monotonic() + wait_seconds
    job = None
    while job is None and time.monotonic() < deadline:
        _, jobs, _ = client.expect("GET", f"{predict}/v1/jobs?limit=100", (200,))
        # A job is listed from the moment it is requested; wait for one that has an outcome.
        job = next(
            (
                j
                for j in jobs["items"]
                if j["job_id"] not in known_jobs and j["decision"] not in ("queued", "running")
            ),
            None,
        )
        if job is None:
            time.sleep(1)
    if job is None:
        print("      no retrain yet: the system retrains after enough new labels")
        print("      (SVMFLOW_RETRAIN_MIN_NEW_LABELS, 50 by default); run the demo again to add more")
    else:
        print(f"      job {job['job_id']}: {job['decision']}")
        print(f"      why: {job['reason']}")
        print(f"      in production now: {job['current_version']}")

    _say(6, "Model history")
    _, models, _ = client.expect("GET", f"{predict}/v1/models", (200,))
    _, current, _ = client.expect("GET", f"{predict}/v1/models/current", (200,))
    for entry in models["items"]:
        marker = "*" if entry["version"] == current["version"] else " "
        print(
            f"    {marker} {entry['version']}  {entry['decision']:9} train {entry['train_size']:>5}  "
            f"{_accuracy(entry.get('evaluation'))}"
        )
    print("      (* = in production)")
