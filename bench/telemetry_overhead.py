"""What telemetry costs: end-to-end latency (``POST /v1/batches`` to the poll that has the labels) of
two embedded systems, one with telemetry off and one with it on, driven in short rounds of alternating
order so a burst of load on the machine hits both alike; and the CPU each used per batch, which other
work on the machine disturbs far less than latency.

"On" is the full setup: every span exported over OTLP/HTTP (to a sink in this process that accepts and
counts what it gets) and the Prometheus scrape reader of ``GET /metrics``. Goal (issue 13): the p50
with telemetry on is at most 10% above the p50 with it off.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil

from bench import loadgen, systems
from bench.common import markdown_table, write_json
from bench.end_to_end import drive
from bench.ingest_api import batch_body

RATE = 20.0
ROWS = 100
ROUNDS = 6
ROUND_SECONDS = 1.5
WARMUP_BATCHES = 10
GOAL_RATIO = 1.10


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP exports, as a collector would, and counts their bytes."""

    received: dict[str, int] = {}

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        _Sink.received[self.path] = _Sink.received.get(self.path, 0) + len(body)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@contextlib.contextmanager
def otlp_sink() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _scraped_batches(system: systems.System) -> float:
    """``svmflow_batches_predicted_total`` summed over model versions, from the system's GET /metrics."""
    url = f"http://127.0.0.1:{system.ingest_port}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("svmflow_batches_predicted_total")
    )


def _cpu_seconds(system: systems.System) -> float:
    """User and system CPU of the system's processes so far (robust to the load others put on the machine)."""
    total = 0.0
    for process in system.processes():
        with contextlib.suppress(psutil.NoSuchProcess):
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _ms(values: list[float], q: float) -> float:
    return loadgen.percentile(values, q) * 1000


def main() -> dict[str, Any]:
    body = batch_body(ROWS)
    latencies: dict[str, list[float]] = {"off": [], "on": []}
    cpu = {"off": 0.0, "on": 0.0}
    ratios: list[float] = []
    with ExitStack() as stack:
        endpoint = stack.enter_context(otlp_sink())
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="svmflow-bench-telemetry-")))
        settings = {
            "off": {},
            "on": {
                "SVMFLOW_TELEMETRY": "otlp",
                "SVMFLOW_METRICS_PROMETHEUS": "on",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            },
        }
        managers = {name: systems.embedded(workdir / name, **env) for name, env in settings.items()}
        # Each trains its first model before it listens: start both at once.
        with ThreadPoolExecutor(len(managers)) as pool:
            started = {name: pool.submit(manager.__enter__) for name, manager in managers.items()}
            for name, manager in managers.items():
                if started[name].exception() is None:  # waits; one that failed has nothing to stop
                    stack.push(manager.__exit__)
            running = {name: future.result() for name, future in started.items()}
        for system in running.values():
            asyncio.run(drive(system, [body] * WARMUP_BATCHES, RATE))
        count = int(RATE * ROUND_SECONDS)
        for round_ in range(ROUNDS):
            # One system at a time (both at once would overload a small machine), in short rounds
            # whose order alternates, so a burst of load elsewhere falls on both alike.
            order = list(running) if round_ % 2 == 0 else list(reversed(running))
            p50s: dict[str, float] = {}
            for name in order:
                system = running[name]
                system.wait_quiet()
                cpu_before = _cpu_seconds(system)
                trace, _ = asyncio.run(drive(system, [body] * count, RATE))
                cpu[name] += _cpu_seconds(system) - cpu_before
                if trace.failed:
                    failures = f"{len(trace.failed)} failed, e.g. {trace.failed[:3]}"
                    raise RuntimeError(f"telemetry {name}: {failures}")
                latencies[name] += trace.end_to_end
                p50s[name] = _ms(trace.end_to_end, 50)
            ratios.append(p50s["on"] / p50s["off"])
        scraped = _scraped_batches(running["on"])
    figures = {name: {f"p{q}_ms": _ms(values, q) for q in (50, 95, 99)} for name, values in latencies.items()}
    ratio = figures["on"]["p50_ms"] / figures["off"]["p50_ms"]
    payload = {
        "benchmark": "telemetry_overhead",
        "rate": RATE,
        "rows": ROWS,
        "batches_each": len(latencies["on"]),
        "off": figures["off"],
        "on": figures["on"],
        "p50_ratio": ratio,
        "p50_ratio_per_round": ratios,
        "p50_ratio_median_of_rounds": statistics.median(ratios),
        "cpu_ms_per_batch": {name: cpu[name] * 1000 / len(latencies[name]) for name in cpu},
        "exported_bytes": dict(_Sink.received),
        # What GET /metrics said after the run: every batch of the warm-up and the rounds counted.
        "prometheus_batches_predicted": scraped,
        "goal_met": ratio <= GOAL_RATIO,
    }
    if not _Sink.received.get("/v1/traces"):
        raise RuntimeError("telemetry on exported no spans: the comparison would measure nothing")
    write_json("telemetry_overhead", payload)
    print(table(payload))
    return payload


def table(payload: dict[str, Any]) -> str:
    rows = [[name, *(f"{payload[name][f'p{q}_ms']:.1f}" for q in (50, 95, 99))] for name in ("off", "on")]
    note = (
        f"\n\np50 on / off = {payload['p50_ratio']:.3f} (goal at most {GOAL_RATIO:.2f}: "
        f"{'met' if payload['goal_met'] else 'missed'}); {payload['batches_each']} batches of "
        f"{payload['rows']} rows per setting at {payload['rate']:.0f}/s, in alternating rounds; "
        f"p50 ratio per round: {', '.join(f'{r:.2f}' for r in payload['p50_ratio_per_round'])} "
        f"(median {payload['p50_ratio_median_of_rounds']:.2f}); "
        "CPU per batch (all the system's work, ms): "
        f"off {payload['cpu_ms_per_batch']['off']:.2f}, on {payload['cpu_ms_per_batch']['on']:.2f}; "
        f"OTLP bytes exported: {payload['exported_bytes']}; batches counted at GET /metrics: "
        f"{payload.get('prometheus_batches_predicted', 0):.0f}."
    )
    return markdown_table(["telemetry", "e2e p50 ms", "p95 ms", "p99 ms"], rows) + note


if __name__ == "__main__":
    main()
