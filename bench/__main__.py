"""Run every benchmark: ``.venv/bin/python -m bench`` (or ``make bench``).

Writes ``bench/results/*.json``, PNG plots beside them and ``bench/results/README.md`` with the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    bulk_file,
    bus_ceiling,
    cold_start,
    emulator_push,
    end_to_end,
    ingest_api,
    memory_burst,
    mlserver,
    plots,
    prediction_core,
    profile_stages,
    systems,
    telemetry_overhead,
    training_cv,
)
from bench.common import RESULTS

BENCHMARKS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    "prediction_core": (prediction_core.main, prediction_core.table),
    "cold_start": (cold_start.main, cold_start.table),
    "ingest_api": (ingest_api.main, ingest_api.table),
    "end_to_end": (end_to_end.main, end_to_end.table),
    "emulator_push": (emulator_push.main, emulator_push.table),
    "mlserver": (mlserver.main, mlserver.table),
    "bus_ceiling": (bus_ceiling.main, bus_ceiling.table),
    "memory_burst": (memory_burst.main, memory_burst.table),
    "profile_stages": (profile_stages.main_after, profile_stages.summary_table),
    "bulk_file": (bulk_file.main, bulk_file.table),
    "training_cv": (training_cv.main, training_cv.table),
    "telemetry_overhead": (telemetry_overhead.main, telemetry_overhead.table),
}
# Figures that need a plot of their own; the others are drawn in ``_plot``.
PLOTS: dict[str, Callable[[dict[str, Any], Path], Path]] = {
    "prediction_core": plots.prediction_core,
    "ingest_api": plots.ingest_api,
    "end_to_end": plots.end_to_end,
    "mlserver": plots.mlserver,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"any of {', '.join(BENCHMARKS)} (default: all)"
    )
    args = parser.parse_args()
    unknown = set(args.names) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    failed: list[str] = []
    try:
        for name in args.names or list(BENCHMARKS):
            print(f"== {name}", flush=True)
            run, _ = BENCHMARKS[name]
            try:
                _plot(name, run())
            except Exception as exc:  # the others still run; the summary keeps this one's last result
                failed.append(name)
                print(f"   {name} failed: {type(exc).__name__}: {exc}", flush=True)
    finally:
        systems.close_shared()  # the systems the benchmarks shared
    _write_summary()
    print(f"results in {RESULTS}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


def _write_summary() -> None:
    """One page with the latest result of every benchmark, so re-running one keeps the others."""
    sections = []
    for name, (_, table) in BENCHMARKS.items():
        path = RESULTS / f"{name}.json"
        if path.exists():
            payload = json.loads(path.read_text())
            figure = f"\n\n![{name}]({name}.png)" if (RESULTS / f"{name}.png").exists() else ""
            sections.append(f"## {name}\n\n{table(payload)}{figure}\n")
    (RESULTS / "README.md").write_text(
        "# Benchmark results\n\nProduced by `.venv/bin/python -m bench [NAME ...]` "
        f"on {os.cpu_count()} CPUs with Python {platform.python_version()}; each section is the latest run "
        "of that benchmark. See docs/benchmarks.md for how to read them.\n\n" + "\n".join(sections)
    )


def _plot(name: str, payload: dict[str, Any]) -> None:
    if name in PLOTS:
        PLOTS[name](payload, RESULTS / f"{name}.png")
    elif name == "cold_start":
        plots.bars(
            "Cold start: import, load, predict once",
            ["svmflow", "joblib + scikit-learn"],
            [payload["svmflow_seconds"], payload["baseline_seconds"]],
            "seconds (median)",
            RESULTS / "cold_start.png",
        )


if __name__ == "__main__":
    main()
