"""Ingest-to-pollable latency over the emulated stack: ``make bench-latency``
(``.venv/bin/python -m bench.emulated_latency [--batches N] [--rows R]``).

Starts the emulated stack on this machine's Redis and PostgreSQL with a throwaway database and key
prefix, trains the first model, then submits batches one at a time: the clock starts before
``POST /v1/batches`` and stops at the first ``GET /v1/batches/{id}`` that answers 200 (polled every
10 ms). The path is ingest API -> Pub/Sub emulator -> prediction function -> emulator -> cache function
-> Redis -> predict API. Prints p50, p95 and max; removes the database and keys afterwards.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from devstack.local import drop_database, ensure_database, machine_config
from devstack.raw_http import RawHttp as Client
from devstack.stack import EmulatedStack
from svmflow.domain.training import read_seed_csv

DATA = Path(__file__).resolve().parents[1] / "data" / "banknote.csv"


def measure(client: Client, rows: list[list[float]], timeout: float = 30.0) -> float:
    body = {"subjects": [f"r{i}" for i in range(len(rows))], "features": rows}
    started = time.perf_counter()
    status, answer, _ = client.call("POST", f"{client.ingest_url}/v1/batches", body)
    if status != 202:
        raise RuntimeError(f"ingest answered {status}: {answer}")
    url = f"{client.predict_url}/v1/batches/{answer['batch_id']}"
    while client.call("GET", url)[0] != 200:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"batch {answer['batch_id']} not pollable after {timeout:.0f}s")
        time.sleep(0.01)
    return time.perf_counter() - started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--rows", type=int, default=20, help="records per batch")
    parser.add_argument("--warmup", type=int, default=5, help="batches not counted (first calls)")
    args = parser.parse_args()

    run_id = secrets.token_hex(4)
    run_dir = Path(tempfile.mkdtemp(prefix="svmflow-bench-"))
    config = machine_config(run_dir, cache_prefix=f"svmflow:bench:{run_id}:")
    config.database_url = config.database_url.rsplit("/", 1)[0] + f"/svmflow_bench_{run_id}"
    ensure_database(config.database_url)
    rng = random.Random(7)
    seed_rows = [list(r.features) for r in read_seed_csv(DATA)]
    try:
        with EmulatedStack(config) as stack:
            stack.bootstrap_model()
            client = Client(stack.ingest_url, stack.predict_url, config.secrets["api-keys"])  # type: ignore[index]
            samples = []
            for i in range(args.warmup + args.batches):
                latency = measure(client, rng.sample(seed_rows, args.rows))
                if i >= args.warmup:
                    samples.append(latency)
            redis = stack.container.redis
            keys = list(redis.scan_iter(f"{config.cache_prefix}*"))
            if keys:
                redis.delete(*keys)
    finally:
        drop_database(config.database_url)
        shutil.rmtree(run_dir, ignore_errors=True)
    ms = [s * 1000 for s in samples]
    print(
        f"ingest to pollable over the emulated stack, {args.batches} batches of {args.rows} records "
        f"(after {args.warmup} warm-up): p50 {statistics.median(ms):.0f} ms, "
        f"p95 {percentile(ms, 0.95):.0f} ms, max {max(ms):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
