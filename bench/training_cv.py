"""Training with model selection: C chosen by 5-fold cross-validation over the grid, plus the cross-fitted
scoring the gate needs, on 10,000 rows, against one plain fit measured in the same run.

The rows are the banknote data set resampled with small jitter to 10,000 rows (9,000 seed-like, 1,000
feedback-like with a window of 500), so the fits do the work a busy deployment's training would.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from bench.common import write_json
from svmflow.config import Settings
from svmflow.domain.model_selection import DEFAULT_C_GRID, choose_c, cross_fitted
from svmflow.domain.training import FEEDBACK, SEED, LabelledRow, fit, read_seed_csv, row_hash

ROWS = 10_000
WINDOW = 500
REPEATS = 3


def rows(n: int = ROWS) -> list[LabelledRow]:
    base = read_seed_csv(Settings().data_path)
    rng = np.random.default_rng(0)
    out = []
    for i in range(n):
        source = base[int(rng.integers(len(base)))]
        features = tuple(float(x) for x in np.asarray(source.features) + rng.normal(0, 0.05, 4))
        kind = FEEDBACK if i >= n - 1000 else SEED
        out.append(
            LabelledRow(
                kind, row_hash(features), features, source.label, "sample" if kind == FEEDBACK else SEED
            )
        )
    return out


def _best_of(fn: Any) -> float:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> dict[str, Any]:
    data = rows()
    window = data[-WINDOW:]
    plain = _best_of(lambda: fit(data))
    chosen: dict[str, float] = {}

    def with_cv() -> None:
        cv = choose_c(data, grid=DEFAULT_C_GRID, metric="accuracy", folds=5)
        fit(data, c=cv.c)
        cross_fitted(data, window, c=cv.c, folds=5)
        chosen["c"] = cv.c

    selected = _best_of(with_cv)
    result = {
        "rows": len(data),
        "window": WINDOW,
        "grid": list(DEFAULT_C_GRID),
        "folds": 5,
        "cpus": os.cpu_count(),
        "plain_fit_seconds": round(plain, 3),
        "cv_training_seconds": round(selected, 3),
        "ratio_vs_plain_fit": round(selected / plain, 1),
        "chosen_c": chosen["c"],
    }
    write_json("training_cv", result)
    return result


def table(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            "| rows | what | seconds (best of 3) | vs one plain fit |",
            "| --- | --- | --- | --- |",
            f"| {result['rows']:,} | one plain fit (C=1) | {result['plain_fit_seconds']:.3f} | 1.0x |",
            f"| {result['rows']:,} | C by {result['folds']}-fold CV over {result['grid']}, final fit, "
            f"cross-fitted window of {result['window']} | {result['cv_training_seconds']:.3f} | "
            f"{result['ratio_vs_plain_fit']}x |",
        ]
    )


if __name__ == "__main__":
    outcome = main()
    print(table(outcome))
