"""A replay's results as JSON, a text table and a plot: never retrain vs the loop vs the oracle."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from svmflow.evaluation.replay import JobRecord, Result


def summary(result: Result) -> dict[str, Any]:
    """The three lines at the end of the stream and on average over it, and what the gate did."""
    batches = result.batches
    last = batches[-1]
    promoted = [v for v in result.versions if v.decision == "promoted" and v.batch >= 0]
    final = result.version(result.final_version)
    return {
        "promotions": len(promoted),
        "rejections": sum(1 for v in result.versions if v.decision == "rejected"),
        "final_never": last.never_accuracy,
        "final_loop": last.truth_accuracy,
        "final_oracle": last.oracle_accuracy,
        "mean_never": round(float(np.mean([b.never_accuracy for b in batches])), 6),
        "mean_loop": round(float(np.mean([b.truth_accuracy for b in batches])), 6),
        "mean_oracle": round(float(np.mean([b.oracle_accuracy for b in batches])), 6),
        "rated_batches": sum(1 for b in batches if b.rated),
        "first_version": result.first_version,
        "final_version": result.final_version,
        "final_seed_holdout_accuracy": final.seed_holdout_accuracy,
        "lowest_promoted_seed_holdout_accuracy": min(
            (v.seed_holdout_accuracy or 0.0 for v in promoted), default=None
        ),
        "dead_letters": result.dead_letters,
        "elapsed_seconds": result.elapsed_seconds,
    }


def to_dict(result: Result) -> dict[str, Any]:
    return {
        "scenario": result.scenario.as_dict(),
        "gate": result.gate,
        "drift": result.drift,
        "data": result.data,
        "summary": summary(result),
        "batches": [dataclasses.asdict(b) for b in result.batches],
        "versions": [dataclasses.asdict(v) for v in result.versions],
    }


def table(result: Result) -> str:
    """One line per batch: who served it, the three lines on the truth, and what the gate decided."""
    s = result.scenario
    feedback = s.feedback + (f" (noise {s.noise_rate:.0%})" if s.feedback == "noisy" else "")
    if s.rated_share < 1:
        feedback += f", {s.rated_share:.0%} of batches rated"
    lines = [
        f"scenario {s.name}: {s.batches} batches of {s.batch_size}, {result.drift}, {feedback} feedback"
        + (f", class 1 at {s.minority_share:.0%}" if s.minority_share else "")
        + (f", one outlier row in batch {s.outlier_at}" if s.outlier_at >= 0 else "")
        + f", seed {s.seed}",
        f"{'batch':>5} {'drift':>5} {'rated':>5} {'served by':<26} {'never':>6} {'loop':>6} {'oracle':>6} "
        f"{'wrong':>5}  decision",
    ]
    for b in result.batches:
        decisions = "; ".join(_decision(j) for j in b.jobs)
        lines.append(
            f"{b.index:>5} {'yes' if b.drifted else '':>5} {'yes' if b.rated else '':>5} {b.served_by:<26} "
            f"{b.never_accuracy:>6.3f} {b.truth_accuracy:>6.3f} {b.oracle_accuracy:>6.3f} "
            f"{b.rated_wrong:>5}  {decisions or '-'}"
        )
    m = summary(result)
    lines.append(
        f"at the end: never retrain {m['final_never']:.3f}, the loop {m['final_loop']:.3f}, oracle "
        f"{m['final_oracle']:.3f}; mean over the stream {m['mean_never']:.3f} / {m['mean_loop']:.3f} / "
        f"{m['mean_oracle']:.3f}; promotions {m['promotions']}, rejections {m['rejections']}; "
        f"{result.elapsed_seconds:.1f} s"
    )
    return "\n".join(lines)


def _decision(job: JobRecord) -> str:
    p = "" if job.p_value is None else f", p={job.p_value:.2g}"
    return f"{job.decision} (n={job.window_rows}{p})"


def plot(result: Result, path: Path) -> Path:
    """Accuracy on the truth per batch of the three lines, with the drift and every decision marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    s = result.scenario
    batches = result.batches
    index = [b.index for b in batches]
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    ax.plot(index, [b.never_accuracy for b in batches], "s--", markersize=3, label="never retrain")
    ax.plot(index, [b.truth_accuracy for b in batches], "o-", label="the loop (serving model)")
    ax.plot(index, [b.oracle_accuracy for b in batches], "^:", markersize=4, label="oracle")
    unrated = [b.index for b in batches if not b.rated]
    if unrated:
        ax.scatter(unrated, [0.505] * len(unrated), marker="|", color="grey", label="batch not rated")
    if s.drift != "none" and s.drift_at < s.batches:
        ax.axvline(s.drift_at - 0.5, color="tab:red", alpha=0.5)
        ax.annotate(" drift", (s.drift_at - 0.5, 0.52), color="tab:red", fontsize=8)
    if 0 <= s.outlier_at < s.batches:
        ax.annotate("outlier", (s.outlier_at, 0.55), color="tab:purple", fontsize=8)
    promoted = [j.batch + 0.5 for j in result.jobs if j.decision == "promoted"]
    rejected = [j.batch + 0.5 for j in result.jobs if j.decision == "rejected"]
    ax.scatter(promoted, [1.015] * len(promoted), marker="^", color="tab:green", label="promoted")
    ax.scatter(rejected, [1.015] * len(rejected), marker="x", color="tab:red", label="rejected")
    ax.set_ylim(0.5, 1.04)
    ax.set_xlabel("batch (a decision after a batch is drawn between it and the next)")
    ax.set_ylabel("accuracy on the truth set")
    ax.set_title(f"{s.name}: {result.drift}; {s.feedback} feedback; seed {s.seed}", fontsize=9)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def summary_table(results: list[Result]) -> str:
    """One markdown row per scenario: the three lines at the end, promotions and rejections."""
    lines = [
        "| scenario | never retrain | the loop | oracle | loop - never | oracle - loop "
        "| promoted / rejected |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        m = summary(result)
        lines.append(
            f"| `{result.scenario.name}` | {m['final_never']:.3f} | {m['final_loop']:.3f} | "
            f"{m['final_oracle']:.3f} | {m['final_loop'] - m['final_never']:+.3f} | "
            f"{m['final_oracle'] - m['final_loop']:+.3f} | {m['promotions']} / {m['rejections']} |"
        )
    return "\n".join(lines)


def write(result: Result, out: Path) -> dict[str, Path]:
    """``<scenario>.json``, ``<scenario>.txt`` and ``<scenario>.png`` in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    name = result.scenario.name
    paths = {
        "json": out / f"{name}.json",
        "table": out / f"{name}.txt",
        "plot": out / f"{name}.png",
    }
    paths["json"].write_text(json.dumps(to_dict(result), indent=2) + "\n")
    paths["table"].write_text(table(result) + "\n")
    plot(result, paths["plot"])
    return paths
