"""The same model served by MLServer's scikit-learn runtime, on the same batches on the same machine.

MLServer answers synchronously (``POST /v2/models/<name>/infer``, the V2 inference protocol); this
pipeline answers asynchronously (POST, then poll until the labels are in the read model). Both get the
same batches over as many connections; the figure is records per second, the pipeline's end to end
(first POST to last pollable result) against MLServer's (first request to last answer).

MLServer lives in a virtual environment of its own (``bench/.venvs/mlserver``, created on first use
with pinned versions; scikit-learn pinned to this project's version so the joblib file loads). The
model is fitted exactly as the training function fits it (same rows, same hold-out split, same
``StandardScaler`` + ``LinearSVC(random_state=0)``), and the labels both return are compared.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path
from typing import Any

import joblib

from bench import loadgen, systems
from bench.common import DATA, ROOT, markdown_table, sample_rows, write_json
from bench.end_to_end import drive
from devstack.processes import Child, free_port

MLSERVER_VERSION = "1.7.1"
VENV = ROOT / "bench" / ".venvs" / "mlserver"
MODEL = "banknote-svm"
# (rows per batch, batches per round): about 20,000 and 40,000 records a round.
SHAPES = ((100, 200), (1_000, 40))
DISTINCT_BATCHES = 10
CONCURRENCY = 8
ROUNDS = 3
MODES = ("emulated", "embedded")


def pins() -> list[str]:
    return [
        f"mlserver=={MLSERVER_VERSION}",
        f"mlserver-sklearn=={MLSERVER_VERSION}",
        f"scikit-learn=={metadata.version('scikit-learn')}",
        # uvloop 0.22 removed the implicit event loop that MLServer 1.7's inference workers rely on:
        # with a newer one every worker dies while loading the model.
        "uvloop==0.21.0",
    ]


def ensure_venv() -> Path:
    """The MLServer environment, created or updated when its pins changed; returns its ``mlserver``."""
    marker = VENV / "bench-pins.txt"
    wanted = "\n".join(pins())
    executable = VENV / "bin" / "mlserver"
    if executable.exists() and marker.exists() and marker.read_text() == wanted:
        return executable
    print(f"   installing {', '.join(pins())} into {VENV.relative_to(ROOT)} ...", flush=True)
    uv = os.environ.get("UV") or shutil.which("uv")  # $UV: set by the Makefile (and by uv for what it runs)
    python = VENV / "bin" / "python"
    if uv:
        subprocess.run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(VENV)], check=True)
        install = [uv, "pip", "install", "--quiet", "--python", str(python), *pins()]
    else:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(VENV)], check=True)
        install = [str(python), "-m", "pip", "install", "--quiet", *pins()]
    subprocess.run(install, check=True)
    marker.write_text(wanted)
    return executable


def fitted_pipeline() -> Any:
    """The training function's fit, step for step (``svmflow.domain.training.fit`` on its split)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    from svmflow.config import Settings
    from svmflow.domain.training import is_holdout, read_seed_csv, row_hash, to_arrays

    holdout = Settings().holdout_percent
    train = [r for r in read_seed_csv(DATA) if not is_holdout(row_hash(r.features), holdout)]
    x, y = to_arrays(train)
    svm = LinearSVC(C=1.0, dual="auto", max_iter=20_000, random_state=0)
    return make_pipeline(StandardScaler(), svm).fit(x, y)


class MLServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.child: Child | None = None

    def start(self) -> MLServer:
        executable = ensure_venv()
        models = self.workdir / "models"
        model_dir = models / MODEL
        model_dir.mkdir(parents=True)
        joblib.dump(fitted_pipeline(), model_dir / "model.joblib")
        (model_dir / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": MODEL,
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib", "version": "v1"},
                }
            )
        )
        (models / "settings.json").write_text(
            json.dumps({"http_port": self.port, "grpc_port": free_port(), "metrics_port": free_port()})
        )
        self.child = Child(
            "mlserver",
            [str(executable), "start", str(models)],
            log_path=ROOT / "bench" / ".venvs" / "mlserver.log",
            cwd=models,
            port=self.port,
        ).start()
        self.child.wait_ready(180, check=self.ready)
        return self

    def ready(self) -> bool:
        url = f"http://{loadgen.HOST}:{self.port}/v2/models/{MODEL}/ready"
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # a loopback address
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        if self.child is not None:
            self.child.stop(grace=10)
            self.child = None

    def infer_request(self, features: list[list[float]]) -> bytes:
        body = json.dumps(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [len(features), len(features[0])],
                        "datatype": "FP64",
                        "data": features,
                    }
                ]
            },
            separators=(",", ":"),
        ).encode()
        headers = {"Content-Type": "application/json"}
        return loadgen.encode_request("POST", f"/v2/models/{MODEL}/infer", body, headers, self.port)


def _batches(rows: int) -> list[tuple[list[str], list[list[float]]]]:
    return [
        ([f"s{i}" for i in range(rows)], sample_rows(rows, seed=100 + k)) for k in range(DISTINCT_BATCHES)
    ]


def measure(server: MLServer, rows: int, count: int) -> dict[str, Any]:
    batches = _batches(rows)
    chosen = [batches[i % len(batches)] for i in range(count)]
    bodies = [json.dumps({"subjects": s, "features": f}, separators=(",", ":")).encode() for s, f in chosen]
    infer = [server.infer_request(f) for _, f in batches]
    out: dict[str, Any] = {"rows": rows, "batches": count}
    rates: dict[str, list[float]] = {"mlserver": [], **{mode: [] for mode in MODES}}
    # One connection, one request at a time: answer k is batch k.
    check = asyncio.run(
        loadgen.closed_loop(
            server.port, infer, concurrency=1, max_requests=len(infer), max_seconds=60, keep_bodies=True
        )
    )
    theirs = [[int(v) for v in json.loads(b)["outputs"][0]["data"]] for b in check.bodies]
    agree = True
    for _ in range(ROUNDS):
        result = asyncio.run(
            loadgen.closed_loop(
                server.port, infer, concurrency=CONCURRENCY, max_requests=count, max_seconds=120
            )
        )
        if result.count != count or set(result.statuses) != {200}:
            raise RuntimeError(f"MLServer answered {result.statuses} to {count} requests")
        rates["mlserver"].append(rows * count / result.elapsed)
        for mode in MODES:
            system = systems.shared(mode)
            trace, elapsed = asyncio.run(drive(system, bodies, None, CONCURRENCY))
            if trace.failed:
                raise RuntimeError(f"{mode}: {len(trace.failed)} batches failed, e.g. {trace.failed[:3]}")
            rates[mode].append(rows * count / elapsed)
            agree &= all(trace.labels[k] == theirs[k] for k in range(len(batches)))
            system.wait_quiet()
    for name, values in rates.items():
        out[name] = {"records_per_second": statistics.median(values), "rounds": values}
    for mode in MODES:
        out[f"{mode}_ratio"] = out[mode]["records_per_second"] / out["mlserver"]["records_per_second"]
    out["labels_agree"] = agree
    print(
        f"   {rows:>5} rows: MLServer {out['mlserver']['records_per_second']:,.0f} records/s, "
        + ", ".join(f"{m} {out[m]['records_per_second']:,.0f} ({out[m + '_ratio']:.2f})" for m in MODES),
        flush=True,
    )
    return out


def table(payload: dict[str, Any]) -> str:
    rows = []
    for r in payload["results"]:
        rows.append(
            [
                f"{r['rows']:,}",
                f"{r['batches']}",
                f"{r['mlserver']['records_per_second']:,.0f}",
                *(f"{r[m]['records_per_second']:,.0f}" for m in MODES),
                *(f"{r[m + '_ratio']:.2f}" for m in MODES),
                "yes" if r["labels_agree"] else "NO",
            ]
        )
    header = ["rows/batch", "batches", "MLServer records/s"]
    header += [f"svmflow {m} e2e records/s" for m in MODES]
    header += [f"{m} / MLServer" for m in MODES] + ["same labels"]
    note = (
        f"\n\nMLServer {payload['mlserver_version']} (scikit-learn runtime, default settings), "
        f"{payload['concurrency']} connections each; median of {payload['rounds']} interleaved rounds."
    )
    return markdown_table(header, rows) + note


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="svmflow-bench-mlserver-") as tmp:
        server = MLServer(Path(tmp)).start()
        try:
            results = [measure(server, rows, count) for rows, count in SHAPES]
        finally:
            server.stop()
    payload = {
        "benchmark": "mlserver",
        "mlserver_version": MLSERVER_VERSION,
        "pins": pins(),
        "concurrency": CONCURRENCY,
        "rounds": ROUNDS,
        "results": results,
    }
    write_json("mlserver", payload)
    print(table(payload))
    return payload


if __name__ == "__main__":
    try:
        main()
    finally:
        systems.close_shared()
