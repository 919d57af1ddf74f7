"""Run every benchmark: ``uv run python -m bench`` (or ``make bench``).

Writes ``bench/results/*.json``, PNG plots beside them and ``bench/results/README.md`` with the tables.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bench import cold_start, plots, prediction_core
from bench.common import RESULTS

BENCHMARKS: dict[str, tuple[Callable[[], dict[str, Any]], Callable[[dict[str, Any]], str]]] = {
    "prediction_core": (prediction_core.main, prediction_core.table),
    "cold_start": (cold_start.main, cold_start.table),
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
    sections = []
    for name in args.names or list(BENCHMARKS):
        print(f"== {name}", flush=True)
        run, table = BENCHMARKS[name]
        payload = run()
        sections.append(f"## {name}\n\n{table(payload)}\n")
        if name == "prediction_core":
            plots.prediction_core(payload, RESULTS / "prediction_core.png")
        elif name == "cold_start":
            plots.bars(
                "Cold start: import, load, predict once",
                ["svmflow", "joblib + scikit-learn"],
                [payload["svmflow_seconds"], payload["baseline_seconds"]],
                "seconds (median)",
                RESULTS / "cold_start.png",
            )
    (RESULTS / "README.md").write_text("# Benchmark results\n\n" + "\n".join(sections))
    print(f"results in {RESULTS}")


if __name__ == "__main__":
    main()
