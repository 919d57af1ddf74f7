"""Ingest API on loopback: requests per second and latency of ``POST /v1/batches``.

For 10, 100 and 1,000-row batches, in embedded mode (``svmflow run``) and emulated mode (the API
publishing to the Pub/Sub emulator), against the transport floor: the same server stack (uvicorn +
Starlette) with an endpoint that only reads the body and answers 202. Rounds alternate floor / API, and
after every API round the system is left to work off the predictions it queued before the next round,
so neither side inherits the other's backlog. The figure is "API rps / floor rps".
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import loadgen, systems
from bench.common import markdown_table, sample_rows, write_json

SIZES = (10, 100, 1_000)
MODES = ("embedded", "emulated")
CONCURRENCY = 8
ROUNDS = 5
ROUND_SECONDS = 1.5
# Per round, bounded so the backlog each round leaves behind stays small (seconds to work off).
ROUND_REQUESTS = {10: 400, 100: 200, 1_000: 40}


def batch_body(rows: int, seed: int = 7) -> bytes:
    return json.dumps(
        {"subjects": [f"s{i}" for i in range(rows)], "features": sample_rows(rows, seed)},
        separators=(",", ":"),
    ).encode()


def post_batch(port: int, body: bytes) -> bytes:
    headers = {"X-API-Key": systems.API_KEY, "Content-Type": "application/json"}
    return loadgen.encode_request("POST", "/v1/batches", body, headers, port)


def _round(port: int, raw: bytes, rows: int, requests: int | None = None) -> loadgen.LoadResult:
    return asyncio.run(
        loadgen.closed_loop(
            port,
            [raw],
            concurrency=CONCURRENCY,
            max_requests=requests or ROUND_REQUESTS[rows],
            max_seconds=ROUND_SECONDS,
        )
    )


def _summary(results: list[loadgen.LoadResult]) -> dict[str, Any]:
    latencies = [x for r in results for x in r.latencies]
    statuses: dict[str, int] = {}
    for r in results:
        for status, n in r.statuses.items():
            statuses[str(status)] = statuses.get(str(status), 0) + n
    return {
        "rps": statistics.median(r.per_second for r in results),
        "rps_rounds": [r.per_second for r in results],
        "p50_ms": loadgen.percentile(latencies, 50) * 1000,
        "p99_ms": loadgen.percentile(latencies, 99) * 1000,
        "requests": len(latencies),
        "statuses": statuses,
    }


def measure(mode: str, bare: systems.System, rounds: int = ROUNDS) -> list[dict[str, Any]]:
    system = systems.shared(mode)
    out = []
    for rows in SIZES:
        body = batch_body(rows)
        api_raw, bare_raw = post_batch(system.ingest_port, body), post_batch(bare.ingest_port, body)
        _round(bare.ingest_port, bare_raw, rows, 20)  # warm both up: connections, code paths
        _round(system.ingest_port, api_raw, rows, 20)
        system.wait_quiet()
        api_runs, bare_runs, waits = [], [], []
        for _ in range(rounds):
            bare_runs.append(_round(bare.ingest_port, bare_raw, rows))
            api_runs.append(_round(system.ingest_port, api_raw, rows))
            waits.append(system.wait_quiet())
        api, floor = _summary(api_runs), _summary(bare_runs)
        if set(api["statuses"]) != {"202"}:
            raise RuntimeError(f"{mode} ingest API answered {api['statuses']} to {rows}-row batches")
        out.append(
            {
                "mode": mode,
                "rows": rows,
                "api": api,
                "bare": floor,
                "ratio": api["rps"] / floor["rps"],
                "records_per_second": api["rps"] * rows,
                "backlog_wait_seconds": waits,
            }
        )
        print(
            f"   {mode:8} {rows:>5} rows: {api['rps']:7.1f} rps (floor {floor['rps']:7.1f}, "
            f"ratio {api['rps'] / floor['rps']:.2f}), p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms",
            flush=True,
        )
    return out


def table(payload: dict[str, Any]) -> str:
    rows = [
        [
            r["mode"],
            f"{r['rows']:,}",
            f"{r['api']['rps']:,.0f}",
            f"{r['api']['p50_ms']:.1f}",
            f"{r['api']['p99_ms']:.1f}",
            f"{r['bare']['rps']:,.0f}",
            f"{r['bare']['p50_ms']:.1f}",
            f"{r['bare']['p99_ms']:.1f}",
            f"{r['ratio']:.2f}",
            f"{r['records_per_second']:,.0f}",
        ]
        for r in payload["results"]
    ]
    header = ["mode", "rows/batch", "API rps", "API p50 ms", "API p99 ms", "floor rps", "floor p50 ms"]
    header += ["floor p99 ms", "API / floor", "API records/s"]
    note = (
        f"\n\n{payload['concurrency']} connections, closed loop, {payload['rounds']} interleaved rounds "
        f"of at most {ROUND_SECONDS} s per cell; rps is the median round, latencies are over all rounds."
    )
    return markdown_table(header, rows) + note


def main() -> dict[str, Any]:
    results = []
    with tempfile.TemporaryDirectory() as tmp, systems.bare(Path(tmp)) as bare:
        for mode in MODES:
            results += measure(mode, bare)
    payload = {
        "benchmark": "ingest_api",
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "round_requests": ROUND_REQUESTS,
        "results": results,
    }
    write_json("ingest_api", payload)
    print(table(payload))
    return payload


if __name__ == "__main__":
    try:
        main()
    finally:
        systems.close_shared()
