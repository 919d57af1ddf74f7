"""Bulk files: a 1,000,000-row CSV predicted by ``POST /v1/jobs/bulk`` on ``svmflow run`` (embedded
mode), beside the per-request path (``svmflow.client`` submitting 10,000-row batches and polling) in the
same run.

Checked, not assumed: rows out equal rows in, and every label equals what the model gives offline
(numpy over the same rows, read back in chunks). Memory: the serving process's resident size is
sampled while the job streams, for a 100,000-row file and the 1,000,000-row one; streaming means the
two peaks are close although one file is ten times the other.
"""

from __future__ import annotations

import csv
import itertools
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from bench import systems
from bench.common import markdown_table, sample_rows, write_json
from svmflow.adapters.local_bucket import LocalBucket
from svmflow.client import Client
from svmflow.model_registry import ModelRegistry

SIZES = (100_000, 1_000_000)
PER_REQUEST_ROWS = 200_000
HEADER = "variance,skewness,curtosis,entropy\n"


def write_csv(path: Path, rows: int, seed: int = 11) -> None:
    """Rows drawn from the data set, written in blocks so the writer's memory stays small too."""
    pool = np.asarray(sample_rows(5_000, seed=seed))
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        out.write(HEADER)
        for start in range(0, rows, 100_000):
            block = pool[rng.integers(0, len(pool), size=min(100_000, rows - start))]
            np.savetxt(out, block, fmt="%.5f", delimiter=",")


class RssSampler:
    """The largest resident size of some processes (and their children), sampled every 20 ms."""

    def __init__(self, processes: list[psutil.Process]) -> None:
        self.processes = processes
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def current(self) -> int:
        total = 0
        for process in self.processes:
            try:
                total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            self._stop.wait(0.02)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def labels_match(bucket_dir: Path, input_path: Path, results_uri: str, version: str) -> dict[str, int]:
    """Rows out == rows in, and each label equals the offline model's, read 100,000 rows at a time."""
    bucket = LocalBucket(bucket_dir)
    model = ModelRegistry(bucket).load(version)
    results_path = bucket_dir / results_uri.removeprefix(bucket.uri_prefix)
    rows_in = rows_out = equal = 0
    with input_path.open() as source, results_path.open() as results:
        next(source)
        next(results)
        inputs, outputs = csv.reader(source), csv.reader(results)
        while True:
            block = list(itertools.islice(inputs, 100_000))
            answers = list(itertools.islice(outputs, 100_000))
            if not block and not answers:
                break
            rows_in += len(block)
            rows_out += len(answers)
            expected, _ = model.predict(np.asarray(block, dtype=np.float64))
            got = np.asarray([int(r[2]) for r in answers])
            equal += int((expected[: len(got)] == got[: len(expected)]).sum())
    return {"rows_in": rows_in, "rows_out": rows_out, "labels_equal": equal}


def bulk_run(
    client: Client, system: systems.System, bucket_dir: Path, rows: int
) -> tuple[dict[str, Any], Any]:
    path = bucket_dir / "bulk" / f"bench-{rows}.csv"
    write_csv(path, rows)
    sampler = RssSampler(system.processes())
    before = sampler.current()
    with sampler:
        started = time.perf_counter()
        job = client.submit_file(f"bulk/{path.name}")
        done = client.wait_file(job.job_id, timeout=1800, interval=0.2)
        seconds = time.perf_counter() - started
    assert done.status == "done", done
    figures = {
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds),
        "rss_before_mb": round(before / 2**20, 1),
        "rss_peak_mb": round(sampler.peak / 2**20, 1),
        "model_version": done.model_version,
    }
    print(
        f"   bulk {rows:>9,} rows: {seconds:6.1f} s, {rows / seconds:,.0f} rows/s, "
        f"peak RSS {figures['rss_peak_mb']} MB"
    )
    return figures, (path, done)


def per_request(client: Client) -> dict[str, Any]:
    features = sample_rows(PER_REQUEST_ROWS, seed=5)
    started = time.perf_counter()
    count = sum(1 for _ in client.iter_predictions(features, in_flight=4, timeout=600))
    seconds = time.perf_counter() - started
    assert count == PER_REQUEST_ROWS
    print(f"   per request {count:,} rows: {seconds:.1f} s, {count / seconds:,.0f} rows/s")
    return {"rows": count, "seconds": round(seconds, 2), "rows_per_second": round(count / seconds)}


def main() -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="svmflow-bench-bulk-") as tmp,
        systems.embedded(Path(tmp)) as system,
    ):
        assert system.predict_port is not None
        bucket_dir = Path(tmp) / "state" / "bucket" / "svmflow-models"
        with Client(
            f"http://127.0.0.1:{system.ingest_port}",
            f"http://127.0.0.1:{system.predict_port}",
            systems.API_KEY,
            timeout=120,
        ) as client:
            # Bulk first, on a fresh server, so its resident size starts from the process's own
            # baseline rather than from what earlier requests left allocated.
            runs = []
            check: dict[str, int] = {}
            for rows in SIZES:
                figures, (path, done) = bulk_run(client, system, bucket_dir, rows)
                runs.append(figures)
                if rows == max(SIZES):
                    check = labels_match(bucket_dir, path, done.results_uri or "", done.model_version or "")
                path.unlink()
            requests = per_request(client)
    largest = runs[-1]
    payload = {
        "per_request": requests,
        "bulk": runs,
        "check": check,
        "bulk_vs_per_request": round(largest["rows_per_second"] / requests["rows_per_second"], 2),
        "peak_rss_ratio_largest_vs_smallest": round(largest["rss_peak_mb"] / runs[0]["rss_peak_mb"], 2),
    }
    assert check["rows_in"] == check["rows_out"] == check["labels_equal"] == max(SIZES), check
    write_json("bulk_file", payload)
    return payload


def table(payload: dict[str, Any]) -> str:
    rows = [
        [
            "per request (client, 10,000-row batches)",
            f"{payload['per_request']['rows']:,}",
            payload["per_request"]["seconds"],
            f"{payload['per_request']['rows_per_second']:,}",
            "-",
        ]
    ]
    for run in payload["bulk"]:
        rows.append(
            [
                "bulk file (POST /v1/jobs/bulk)",
                f"{run['rows']:,}",
                run["seconds"],
                f"{run['rows_per_second']:,}",
                f"{run['rss_before_mb']} -> {run['rss_peak_mb']}",
            ]
        )
    check = payload["check"]
    return (
        markdown_table(["path", "rows", "seconds", "rows/s", "server RSS MB (before -> peak)"], rows)
        + f"\n\nBulk / per request: {payload['bulk_vs_per_request']}x rows/s. Peak RSS, largest file vs "
        f"smallest: {payload['peak_rss_ratio_largest_vs_smallest']}x for 10x the rows. Check: "
        f"{check['rows_in']:,} rows in, {check['rows_out']:,} out, {check['labels_equal']:,} labels equal "
        "to the offline model's."
    )


if __name__ == "__main__":
    main()
