"""The embedded bus's ceiling: batches of 100 rows a second through publish, delivery and acknowledgement.

A ``prediction-requests`` message of 100 rows goes to one subscription and its handler publishes a
``predictions`` message (as the prediction function does), which goes to the two sinks' subscriptions:
three deliveries and two publishes per batch, the bus's whole share of a batch in ``svmflow run``.
The handlers do nothing else, so the figure is what the bus alone allows. Publishers are 8 threads, as
the ingest API's thread pool would be under 8 connections; the bus runs its default workers.

The figure is batches per second against the goal (500); reported beside it, one SQLite transaction
per message on the same file (insert, then delete) as the floor the bus's bookkeeping adds to.
"""

from __future__ import annotations

import sqlite3
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import markdown_table, write_json
from bench.prediction_core import _request
from svmflow import topology
from svmflow.messaging import Delivery
from svmflow.runtime.embedded_bus import EmbeddedBus

ROWS = 100
BATCHES = 1_000
PUBLISHERS = 8
WORKERS = 4
ROUNDS = int(__import__("os").environ.get("BENCH_ROUNDS", "3"))
GOAL = 500.0


def _round(workdir: Path, message: bytes) -> float:
    bus = EmbeddedBus(workdir / f"bus-{time.monotonic_ns()}.sqlite")
    done = threading.Semaphore(0)

    def predict(delivery: Delivery) -> None:
        bus.publish(topology.PREDICTIONS, delivery.data, delivery.attributes).result()

    def sink(_: Delivery) -> None:
        done.release()

    bus.subscribe(topology.subscription_name("prediction"), predict)
    bus.subscribe(topology.subscription_name("prediction_to_cache"), sink)
    bus.subscribe(topology.subscription_name("prediction_to_db"), sink)
    bus.start(WORKERS)

    def publisher(count: int) -> None:
        for _ in range(count):
            bus.publish(topology.PREDICTION_REQUESTS, message, {"batch_id": "bench"}).result()

    share = BATCHES // PUBLISHERS
    threads = [threading.Thread(target=publisher, args=(share,)) for _ in range(PUBLISHERS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for _ in range(2 * share * PUBLISHERS):
        if not done.acquire(timeout=120):
            raise RuntimeError("the bus stopped delivering")
    elapsed = time.perf_counter() - started
    for thread in threads:
        thread.join()
    bus.drain(30)
    bus.stop()
    return share * PUBLISHERS / elapsed


def _floor(workdir: Path, message: bytes) -> float:
    """Five transactions per batch (two inserts, three deletes), one message at a time."""
    conn = sqlite3.connect(workdir / "floor.sqlite", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS q (id INTEGER PRIMARY KEY, data BLOB)")
    started = time.perf_counter()
    for _ in range(BATCHES // 4):
        for _ in range(2):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO q (data) VALUES (?)", (message,))
            conn.execute("COMMIT")
        for _ in range(3):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM q WHERE id = (SELECT MIN(id) FROM q)")
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return BATCHES // 4 / elapsed


def main() -> dict[str, Any]:
    message = _request(ROWS)
    rates, floors = [], []
    with tempfile.TemporaryDirectory(prefix="svmflow-bench-bus-") as tmp:
        for _ in range(ROUNDS):
            floors.append(_floor(Path(tmp), message))
            rates.append(_round(Path(tmp), message))
    rate, floor = statistics.median(rates), statistics.median(floors)
    payload = {
        "benchmark": "bus_ceiling",
        "rows": ROWS,
        "batches": BATCHES,
        "publishers": PUBLISHERS,
        "workers": WORKERS,
        "batches_per_second": rate,
        "rounds": rates,
        "floor_batches_per_second": floor,
        "vs_floor": rate / floor,
        "goal": GOAL,
        "vs_goal": rate / GOAL,
    }
    write_json("bus_ceiling", payload)
    print(table(payload), flush=True)
    return payload


def table(payload: dict[str, Any]) -> str:
    rows = [
        [
            f"{payload['batches_per_second']:,.0f}",
            f"{payload['floor_batches_per_second']:,.0f}",
            f"{payload['vs_floor']:.2f}",
            f"{payload['vs_goal']:.2f}",
        ]
    ]
    header = ["bus batches/s", "floor batches/s (a transaction per message)", "bus / floor"]
    header += [f"bus / goal ({payload['goal']:.0f})"]
    note = (
        f"\n\n{payload['batches']} batches of {payload['rows']} rows from {payload['publishers']} "
        f"publishing threads, {payload['workers']} bus workers; three deliveries and two publishes a batch; "
        "median of 3 rounds."
    )
    return markdown_table(header, rows) + note


if __name__ == "__main__":
    main()
