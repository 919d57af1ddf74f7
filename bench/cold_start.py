"""Cold start: a fresh interpreter imports the prediction entry point, loads the model, predicts once.

Compared with the same done the common way: import the entry point's framework, ``joblib.load`` a
scikit-learn pipeline and call ``predict``. Runs alternate between the two so machine load hits both.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import joblib

from bench.common import ROOT, markdown_table, write_json
from bench.prediction_core import _fitted

ROW = "[[3.6216, 8.6661, -2.8073, -0.44699]]"

SVMFLOW = f"""
import numpy as np
import functions.prediction  # the deployed entry point
from svmflow.bootstrap import default_container
served = default_container().models.current()
labels, _ = served.model.predict(np.asarray({ROW}))
assert labels.tolist() == [0]
"""

BASELINE = f"""
import functions_framework  # the same web framework the entry point carries
import joblib
import numpy as np
model = joblib.load({{path!r}})
assert model.predict(np.asarray({ROW})).tolist() == [0]
"""


def _time(code: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)
    return time.perf_counter() - start


def run(workdir: Path, repeats: int = 7) -> dict[str, Any]:
    from svmflow import operations
    from svmflow.bootstrap import Container
    from svmflow.config import Settings

    settings = Settings(state_dir=workdir / "state")
    container = Container(settings)
    operations.seed(container)
    operations.train(container)
    model_path = workdir / "model.joblib"
    joblib.dump(_fitted(), model_path)
    env = {**os.environ, "SVMFLOW_STATE_DIR": str(settings.state_dir), "SVMFLOW_LOG_LEVEL": "WARNING"}
    baseline_code = BASELINE.format(path=str(model_path))
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(_time(SVMFLOW, env))
        theirs.append(_time(baseline_code, env))
    svmflow_s, baseline_s = statistics.median(ours), statistics.median(theirs)
    return {
        "benchmark": "cold_start",
        "svmflow_seconds": svmflow_s,
        "baseline_seconds": baseline_s,
        "ratio": svmflow_s / baseline_s,
        "runs": {"svmflow": ours, "baseline": theirs},
        "goal": {"ratio_at_most": 0.5},
    }


def table(payload: dict[str, Any]) -> str:
    return markdown_table(
        ["path", "median seconds", "ratio"],
        [
            [
                "svmflow entry point + JSON artifact",
                f"{payload['svmflow_seconds']:.3f}",
                f"{payload['ratio']:.2f}",
            ],
            ["functions-framework + joblib + scikit-learn", f"{payload['baseline_seconds']:.3f}", "1.00"],
        ],
    )


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        payload = run(Path(tmp))
    write_json("cold_start", payload)
    print(table(payload))
    return payload


if __name__ == "__main__":
    main()
