"""Shared helpers: timing with interleaved rounds, a trained model, result files."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DATA = ROOT / "data" / "banknote.csv"


def sample_rows(count: int, seed: int = 7) -> list[list[float]]:
    """``count`` feature rows drawn (with replacement) from the data set."""
    from svmflow.domain.training import read_seed_csv

    rows = read_seed_csv(DATA)
    picks = np.random.default_rng(seed).integers(0, len(rows), size=count)
    return [list(rows[i].features) for i in picks]


@dataclass
class Timing:
    seconds_per_call: float
    calls: int


def interleaved(
    candidates: dict[str, Callable[[], Any]], *, rounds: int = 7, min_round_seconds: float = 0.05
) -> dict[str, Timing]:
    """Time each candidate in alternating rounds and keep the median round, so a burst of load on the
    machine hits every candidate alike instead of whichever happened to be running."""
    per_round: dict[str, list[float]] = {name: [] for name in candidates}
    calls: dict[str, int] = {}
    for name, fn in candidates.items():  # warm up, and size each round to ~min_round_seconds
        fn()
        start, n = time.perf_counter(), 0
        while time.perf_counter() - start < min_round_seconds:
            fn()
            n += 1
        calls[name] = max(1, n)
    for _ in range(rounds):
        for name, fn in candidates.items():
            start = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            per_round[name].append((time.perf_counter() - start) / calls[name])
    return {name: Timing(statistics.median(times), calls[name] * rounds) for name, times in per_round.items()}


def write_json(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


def markdown_table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)
