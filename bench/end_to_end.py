"""End to end: from ``POST /v1/batches`` to the moment ``GET /v1/batches/{id}`` answers with the labels.

Batches of 100 rows arrive at a fixed rate (20 a second, open loop: each starts on schedule whatever
happened to the earlier ones, and latency counts from the scheduled start). After its 202, each batch is
polled every ``POLL_SECONDS`` until it is done. Reported beside it: the POST latency of the same
requests, so "end to end / POST" says what the asynchronous part adds to the synchronous one.

Goal (emulated mode): p50 under 100 ms and p99 under 500 ms at 20 batches of 100 rows per second.
Embedded mode is measured the same way for comparison.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from bench import loadgen, systems
from bench.common import markdown_table, write_json
from bench.ingest_api import batch_body, post_batch

RATE = 20.0
ROWS = 100
SECONDS = 15.0
WARMUP_BATCHES = 20
POLL_SECONDS = 0.005  # the resolution of the end-to-end figure: it can read at most this much late
TIMEOUT_SECONDS = 30.0
MODES = ("emulated", "embedded")
GOAL = {"p50_ms_below": 100.0, "p99_ms_below": 500.0}


@dataclass
class Trace:
    post: list[float] = field(default_factory=list)
    end_to_end: list[float] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    labels: dict[int, list[int]] = field(default_factory=dict)


def get_batch(port: int, batch_id: str) -> bytes:
    return loadgen.encode_request("GET", f"/v1/batches/{batch_id}", b"", {"X-API-Key": systems.API_KEY}, port)


async def drive(
    system: systems.System, bodies: list[bytes], rate: float | None, concurrency: int = 8
) -> tuple[Trace, float]:
    """Post every body and poll each batch until it is done. With ``rate``, open loop at that rate;
    without, as fast as ``concurrency`` connections allow (for throughput). Returns the traces and the
    wall time from the first POST to the last result."""
    assert system.predict_port is not None
    ingest, predict = loadgen.Pool(system.ingest_port), loadgen.Pool(system.predict_port)
    raws = [post_batch(system.ingest_port, body) for body in bodies]
    trace = Trace()
    gate = asyncio.Semaphore(concurrency) if rate is None else None

    async def one(i: int, scheduled: float) -> None:
        if gate is not None:
            async with gate:
                status, answer = await ingest.request(raws[i])
        else:
            status, answer = await ingest.request(raws[i])
        trace.post.append(time.perf_counter() - scheduled)
        if status != 202:
            trace.failed.append(f"POST {status}: {answer[:200]!r}")
            return
        poll = get_batch(system.predict_port or 0, json.loads(answer)["batch_id"])
        deadline = time.perf_counter() + TIMEOUT_SECONDS
        while time.perf_counter() < deadline:
            status, answer = await predict.request(poll)
            if status == 200:
                trace.end_to_end.append(time.perf_counter() - scheduled)
                trace.labels[i] = [r["label"] for r in json.loads(answer)["results"]]
                return
            if status != 202:
                trace.failed.append(f"GET {status}: {answer[:200]!r}")
                return
            await asyncio.sleep(POLL_SECONDS)
        trace.failed.append("not done in time")

    try:
        if rate is None:
            start = time.perf_counter()
            await asyncio.gather(*(one(i, start) for i in range(len(bodies))))
            elapsed = time.perf_counter() - start
        else:
            elapsed = await loadgen.open_loop(rate, len(bodies), one)
    finally:
        await ingest.close()
        await predict.close()
    return trace, elapsed


def _ms(values: list[float], q: float) -> float:
    return loadgen.percentile(values, q) * 1000


def measure(mode: str) -> dict[str, Any]:
    system = systems.shared(mode)
    body = batch_body(ROWS)
    asyncio.run(drive(system, [body] * WARMUP_BATCHES, RATE))
    system.wait_quiet()
    count = int(RATE * SECONDS)
    trace, elapsed = asyncio.run(drive(system, [body] * count, RATE))
    if trace.failed:
        raise RuntimeError(f"{mode}: {len(trace.failed)} batches failed, e.g. {trace.failed[:3]}")
    e2e = {f"p{q}_ms": _ms(trace.end_to_end, q) for q in (50, 95, 99)}
    post = {f"p{q}_ms": _ms(trace.post, q) for q in (50, 95, 99)}
    result = {
        "mode": mode,
        "batches": count,
        "achieved_rate": count / elapsed,
        "end_to_end": e2e | {"max_ms": max(trace.end_to_end) * 1000},
        "post": post,
        "ratio": {key: e2e[key] / post[key] for key in e2e},
        "goal_met": e2e["p50_ms"] < GOAL["p50_ms_below"] and e2e["p99_ms"] < GOAL["p99_ms_below"],
    }
    print(
        f"   {mode:8} e2e p50 {e2e['p50_ms']:.0f} ms, p95 {e2e['p95_ms']:.0f} ms, p99 {e2e['p99_ms']:.0f} ms"
        f" (POST p50 {post['p50_ms']:.1f} ms, p99 {post['p99_ms']:.1f} ms)",
        flush=True,
    )
    return result


def table(payload: dict[str, Any]) -> str:
    rows = []
    for r in payload["results"]:
        e2e, post, ratio = r["end_to_end"], r["post"], r["ratio"]
        goal = ("met" if r["goal_met"] else "missed") if r["mode"] == "emulated" else "-"
        rows.append(
            [
                r["mode"],
                f"{e2e['p50_ms']:.0f} / {e2e['p95_ms']:.0f} / {e2e['p99_ms']:.0f}",
                f"{post['p50_ms']:.1f} / {post['p95_ms']:.1f} / {post['p99_ms']:.1f}",
                f"{ratio['p50_ms']:.1f} / {ratio['p95_ms']:.1f} / {ratio['p99_ms']:.1f}",
                f"{r['achieved_rate']:.1f}",
                goal,
            ]
        )
    header = ["mode", "end to end p50 / p95 / p99 ms", "POST p50 / p95 / p99 ms", "e2e / POST"]
    header += ["batches/s", "goal (p50 < 100 ms, p99 < 500 ms)"]
    note = (
        f"\n\n{payload['batches']} batches of {payload['rows']} rows at {payload['rate']:.0f}/s (open loop), "
        f"polled every {payload['poll_seconds'] * 1000:.0f} ms."
    )
    return markdown_table(header, rows) + note


def main() -> dict[str, Any]:
    payload = {
        "benchmark": "end_to_end",
        "rate": RATE,
        "rows": ROWS,
        "batches": int(RATE * SECONDS),
        "poll_seconds": POLL_SECONDS,
        "goal": GOAL,
        "results": [measure(mode) for mode in MODES],
    }
    write_json("end_to_end", payload)
    print(table(payload))
    return payload


if __name__ == "__main__":
    try:
        main()
    finally:
        systems.close_shared()
