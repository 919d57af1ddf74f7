"""Memory of every long-running process through a burst of 2,000 batches, then idle.

For each mode the system is started, left to settle, and the resident set size (RSS) of each of its
processes is read (``before``); 2,000 batches of 100 rows are then posted over 8 connections and each
is polled until its results are in, while RSS is sampled every 0.2 s (``peak``); then the system is
left idle for ``IDLE_SECONDS`` and read again (``after``). Every batch must come back with all of its
labels: a lost batch fails the benchmark. The goal: each process back within 20 MB of where it began.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from typing import Any

import psutil

from bench import loadgen, systems
from bench.common import markdown_table, write_json
from bench.end_to_end import drive, get_batch
from bench.ingest_api import batch_body, post_batch

BATCHES = 2_000
ROWS = 100
CONCURRENCY = 8
IDLE_SECONDS = 20.0
RESULT_TIMEOUT_SECONDS = 600.0  # for the last batch's results, once all were accepted
GOAL_MB = 20.0
MODES = ("embedded", "emulated")
MB = 1024 * 1024


def _name(process: psutil.Process) -> str:
    """A short, stable name: the function or API a process serves, or its program."""
    with contextlib.suppress(psutil.Error):
        args = process.cmdline()
        for flag in ("--target", "--function"):
            if flag in args:
                return args[args.index(flag) + 1]
        joined = " ".join(args)
        if "svmflow run" in joined:
            return "svmflow run"
        if "-m api" in joined:
            return "api " + args[args.index("api") + 1]
        for marker in ("pubsub-emulator", "cloud-pubsub-emulator", "fake-gcs"):
            if marker in joined:
                return marker
        return process.name()
    return "?"


def _rss(system: systems.System) -> dict[str, float]:
    found: dict[str, float] = {}
    for process in system.processes():
        with contextlib.suppress(psutil.Error):
            key = f"{_name(process)} ({process.pid})"
            found[key] = process.memory_info().rss / MB
    return found


async def burst(system: systems.System, body: bytes) -> tuple[int, list[str], float]:
    """Post every batch as fast as the connections allow, then poll each until its results are in.
    Returns the batches complete with all their labels, the failures, and the seconds taken."""
    assert system.predict_port is not None
    ingest, predict = loadgen.Pool(system.ingest_port), loadgen.Pool(system.predict_port)
    raw = post_batch(system.ingest_port, body)
    gate = asyncio.Semaphore(CONCURRENCY)
    failed: list[str] = []
    accepted: list[str] = []
    started = time.perf_counter()

    async def post() -> None:
        async with gate:
            status, answer = await ingest.request(raw)
        if status == 202:
            accepted.append(json.loads(answer)["batch_id"])
        else:
            failed.append(f"POST {status}: {answer[:200]!r}")

    async def wait_done(batch_id: str, deadline: float) -> bool:
        poll = get_batch(system.predict_port or 0, batch_id)
        while time.perf_counter() < deadline:
            async with gate:
                status, answer = await predict.request(poll)
            if status == 200:
                return len(json.loads(answer)["results"]) == ROWS
            if status != 202:
                failed.append(f"GET {status}: {answer[:200]!r}")
                return False
            await asyncio.sleep(0.2)
        failed.append(f"{batch_id}: no results after {RESULT_TIMEOUT_SECONDS:.0f} s")
        return False

    try:
        await asyncio.gather(*(post() for _ in range(BATCHES)))
        deadline = time.perf_counter() + RESULT_TIMEOUT_SECONDS
        done = await asyncio.gather(*(wait_done(b, deadline) for b in accepted))
    finally:
        await ingest.close()
        await predict.close()
    return sum(done), failed, time.perf_counter() - started


def measure(mode: str) -> dict[str, Any]:
    system = systems.shared(mode)
    body = batch_body(ROWS)
    asyncio.run(drive(system, [body] * 20, None, CONCURRENCY))  # first requests load code and caches
    system.wait_quiet()
    time.sleep(2)
    before = _rss(system)
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.2):
            for key, value in _rss(system).items():
                peak[key] = max(peak.get(key, 0.0), value)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        complete, failed, elapsed = asyncio.run(burst(system, body))
    finally:
        stop.set()
        sampler.join()
    system.wait_quiet()
    time.sleep(IDLE_SECONDS)
    after = _rss(system)
    processes = []
    for key in sorted(before):
        if key not in after:
            continue
        growth = after[key] - before[key]
        processes.append(
            {
                "process": key,
                "before_mb": before[key],
                "peak_mb": peak.get(key, before[key]),
                "after_mb": after[key],
                "growth_mb": growth,
                "goal_met": growth <= GOAL_MB,
            }
        )
    result = {
        "mode": mode,
        "batches": BATCHES,
        "completed": complete,
        "failed": failed[:5],
        "lost": BATCHES - complete,
        "burst_seconds": elapsed,
        "burst_wall_seconds": time.monotonic() - started,
        "processes": processes,
    }
    print(
        f"   {mode}: {complete}/{BATCHES} batches complete in {elapsed:.0f}s; "
        + ", ".join(
            f"{p['process']} {p['before_mb']:.0f}->{p['peak_mb']:.0f}->{p['after_mb']:.0f} MB"
            for p in processes
        ),
        flush=True,
    )
    return result


def table(payload: dict[str, Any]) -> str:
    rows = []
    for r in payload["results"]:
        for p in r["processes"]:
            rows.append(
                [
                    r["mode"],
                    p["process"].rsplit(" (", 1)[0],
                    f"{p['before_mb']:.0f}",
                    f"{p['peak_mb']:.0f}",
                    f"{p['after_mb']:.0f}",
                    f"{p['growth_mb']:+.0f}",
                    "met" if p["goal_met"] else "missed",
                ]
            )
    header = ["mode", "process", "RSS before MB", "peak MB", "after idle MB", "after - before MB"]
    header += [f"within {payload['goal_mb']:.0f} MB"]
    lost = "; ".join(f"{r['mode']}: {r['lost']} of {r['batches']} batches lost" for r in payload["results"])
    note = (
        f"\n\n{payload['batches']} batches of {payload['rows']} rows over {payload['concurrency']} "
        f"connections, each polled until done; RSS after {payload['idle_seconds']:.0f} s idle. {lost}."
    )
    return markdown_table(header, rows) + note


def main(modes: tuple[str, ...] = MODES) -> dict[str, Any]:
    payload = {
        "benchmark": "memory_burst",
        "batches": BATCHES,
        "rows": ROWS,
        "concurrency": CONCURRENCY,
        "idle_seconds": IDLE_SECONDS,
        "goal_mb": GOAL_MB,
        "results": [measure(mode) for mode in modes],
    }
    write_json("memory_burst", payload)
    print(table(payload))
    if any(r["lost"] for r in payload["results"]):
        raise RuntimeError("batches were lost in the burst: " + table(payload))
    return payload


if __name__ == "__main__":
    import sys

    try:
        main(tuple(sys.argv[1:]) or MODES)
    finally:
        systems.close_shared()
