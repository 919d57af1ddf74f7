"""Where the time goes per batch: a sampling profile (py-spy) of every process of a system under load.

``python -m bench.profile_stages [embedded|emulated ...] [--label before]`` starts the system, drives
100-row batches end to end as fast as 8 connections allow, and records every process of the system
with py-spy meanwhile. It writes to ``bench/profiles/``:

* ``<mode>-<label>.svg``: the flame graph (all processes, on-CPU samples only);
* ``<mode>-<label>.txt``: the collapsed stacks it was drawn from;
* ``<mode>-<label>.json``: the samples sorted into the pipeline's stages, per batch.

py-spy is a sampling profiler outside the interpreter, so it profiles every thread of every process
without slowing the code it watches (cProfile would, and only in the thread it is enabled in). It is
installed on first use into ``bench/.venvs/py-spy``, like MLServer, so the project does not depend on it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import flamegraph, systems
from bench.common import ROOT, markdown_table
from bench.end_to_end import drive
from bench.ingest_api import batch_body

PROFILES = ROOT / "bench" / "profiles"
PY_SPY_VERSION = "0.4.3"
VENV = ROOT / "bench" / ".venvs" / "py-spy"
RATE_HZ = 250
ROWS = 100
CONCURRENCY = 8
SECONDS = {"embedded": 12.0, "emulated": 15.0}

# Each sample goes to the first stage one of whose markers is in its stack (a frame's "function (file"):
# the order matters, because the stages nest (a prediction publishes; the API awaits the bus).
STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("db write", ("handlers/prediction_to_db.py", "(svmflow/db/")),
    ("cache write", ("handlers/prediction_to_cache.py", "read_model.py", "fakeredis/")),
    ("poll", ("api/predict.py",)),
    ("publish + ack wait", ("api/ingest.py:1", "submit_batch (api/ingest.py", "(google/cloud/pubsub")),
    ("API decode", ("api/ingest.py", "api/body.py", "api/auth.py")),
    ("prediction", ("handlers/prediction.py", "model_registry.py", "linear_model.py")),
    ("bus commit", ("embedded_bus.py",)),
    ("message handling", ("processor.py", "functions_framework", "cloud_events.py", "flask", "werkzeug")),
    ("HTTP server", ("uvicorn", "starlette", "h11", "httptools", "asyncio", "selectors", "gunicorn")),
    ("logging", ("logging/", "svmflow/logs.py")),
]


def ensure_py_spy() -> Path:
    executable = VENV / "bin" / "py-spy"
    if executable.exists():
        return executable
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    subprocess.run([uv, "venv", "--quiet", "--clear", "--python", sys.executable, str(VENV)], check=True)
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(VENV / "bin" / "python"),
            f"py-spy=={PY_SPY_VERSION}",
        ],
        check=True,
    )
    return executable


def classify(stack: str) -> str:
    # The publish of the ingest API: awaited in a thread of the pool, below ``publish`` of processor.py.
    if "api/ingest.py" in stack and ("publish (svmflow/messaging.py" in stack or "pubsub" in stack):
        return "publish + ack wait"
    if "handlers/prediction.py" in stack and "embedded_bus.py" in stack:
        return "bus commit"  # the prediction's own publish
    if "publish (svmflow/messaging.py" in stack and "embedded_bus.py" not in stack:
        return "publish + ack wait"
    for stage, markers in STAGES:
        if any(marker in stack for marker in markers):
            return stage
    return "other"


def summarize(collapsed: Path, batches: int) -> dict[str, Any]:
    samples: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            samples[classify(stack)] += int(count)
    total = sum(samples.values())
    stages = {
        stage: {
            "samples": n,
            "share": n / total if total else 0.0,
            "cpu_ms_per_batch": n / RATE_HZ * 1000 / batches if batches else 0.0,
        }
        for stage, n in samples.most_common()
    }
    return {"samples": total, "batches": batches, "stages": stages}


def _record(py_spy: Path, pid: int, out: Path, fmt: str, seconds: float) -> subprocess.Popen[bytes]:
    args = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--rate", str(RATE_HZ)]
    args += ["--duration", str(int(seconds)), "--format", fmt, "--output", str(out), "--nonblocking"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile(mode: str, label: str) -> dict[str, Any]:
    py_spy = ensure_py_spy()
    PROFILES.mkdir(parents=True, exist_ok=True)
    system = systems.shared(mode)
    body = batch_body(ROWS)
    asyncio.run(drive(system, [body] * 40, None, CONCURRENCY))  # warm up
    system.wait_quiet()
    seconds = SECONDS[mode]
    stem = PROFILES / f"{mode}-{label}"
    recorders = []
    with tempfile.TemporaryDirectory() as tmp:
        for index, pid in enumerate(system.pids):
            recorders.append((_record(py_spy, pid, Path(tmp) / f"{index}.txt", "raw", seconds), index))
        time.sleep(1.0)  # py-spy attaches
        done, started = 0, time.monotonic()
        while time.monotonic() - started < seconds - 2:
            trace, _ = asyncio.run(drive(system, [body] * 100, None, CONCURRENCY))
            if trace.failed:
                raise RuntimeError(f"{mode}: {trace.failed[:3]}")
            done += 100
        elapsed = time.monotonic() - started
        lines = []
        for recorder, index in recorders:
            try:
                _, err = recorder.communicate(timeout=seconds + 300)
            except subprocess.TimeoutExpired:
                recorder.kill()  # py-spy can stall on a saturated machine; never leave it behind
                raise
            if recorder.returncode:
                raise RuntimeError(f"py-spy failed: {err.decode()[-500:]}")
            lines.append((Path(tmp) / f"{index}.txt").read_text())
        stem.with_suffix(".txt").write_text("".join(lines))
    flamegraph.write(stem.with_suffix(".txt"), stem.with_suffix(".svg"), f"{mode} ({label})")
    summary = summarize(stem.with_suffix(".txt"), done)
    summary |= {"mode": mode, "label": label, "batches_per_second": done / elapsed, "rows": ROWS}
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(table(summary), flush=True)
    return summary


def table(summary: dict[str, Any]) -> str:
    rows = [
        [stage, f"{s['share'] * 100:.0f} %", f"{s['cpu_ms_per_batch']:.2f}"]
        for stage, s in summary["stages"].items()
    ]
    head = (
        f"{summary['mode']} ({summary['label']}): {summary['batches']} batches of {summary['rows']} rows, "
        f"{summary['batches_per_second']:.0f} batches/s, {summary['samples']} samples at {RATE_HZ} Hz\n\n"
    )
    return head + markdown_table(["stage", "share of CPU samples", "CPU ms per batch"], rows)


def main_after(modes: tuple[str, ...] = ("embedded", "emulated")) -> dict[str, Any]:
    """For ``python -m bench``: profile both modes now and set them beside the committed profiles
    taken before the throughput work (``bench/profiles/*-before.json``)."""
    from bench.common import write_json

    payload: dict[str, Any] = {"benchmark": "profile_stages", "rate_hz": RATE_HZ, "modes": {}}
    for mode in modes:
        before_path = PROFILES / f"{mode}-before.json"
        before = json.loads(before_path.read_text()) if before_path.exists() else None
        payload["modes"][mode] = {"before": before, "after": profile(mode, "after")}
    write_json("profile_stages", payload)
    return payload


def _biggest(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "not recorded"
    stage, figures = next(iter(summary["stages"].items()))
    return f"{stage} ({figures['share'] * 100:.0f} %, {figures['cpu_ms_per_batch']:.2f} ms/batch)"


def summary_table(payload: dict[str, Any]) -> str:
    parts = []
    for mode, runs in payload["modes"].items():
        before, after = runs["before"], runs["after"]
        stages = list(after["stages"]) + [
            s for s in (before or {}).get("stages", {}) if s not in after["stages"]
        ]
        rows = []
        for stage in stages:
            cells = [stage]
            for run in (before, after):
                figures = (run or {}).get("stages", {}).get(stage)
                cells.append(
                    f"{figures['share'] * 100:.0f} % / {figures['cpu_ms_per_batch']:.2f}" if figures else "-"
                )
            rows.append(cells)
        rate = (
            f"{before['batches_per_second']:.0f} -> {after['batches_per_second']:.0f}"
            if before
            else f"{after['batches_per_second']:.0f}"
        )
        parts.append(
            f"**{mode}** (batches/s while profiled: {rate}). Biggest stage before: {_biggest(before)}; "
            f"after: {_biggest(after)}. Flame graphs: `bench/profiles/{mode}-before.svg`, "
            f"`bench/profiles/{mode}-after.svg`.\n\n"
            + markdown_table(
                ["stage", "before: share / CPU ms per batch", "after: share / CPU ms per batch"], rows
            )
        )
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_stages")
    parser.add_argument("modes", nargs="*", default=["embedded"], choices=["embedded", "emulated"])
    parser.add_argument("--label", default="after")
    args = parser.parse_args()
    try:
        for mode in args.modes:
            profile(mode, args.label)
    finally:
        systems.close_shared()


if __name__ == "__main__":
    main()
