"""A replay's results as JSON, a text table and a plot of accuracy over time."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from svmflow.evaluation.replay import Result, VersionRecord


def to_dict(result: Result) -> dict[str, Any]:
    promoted = [v for v in result.versions if v.decision == "promoted" and v.batch >= 0]
    first, final = result.version(result.first_version), result.version(result.final_version)
    return {
        "scenario": result.scenario.as_dict(),
        "gate": result.gate,
        "drift": result.drift,
        "data": result.data,
        "summary": {
            "promotions": len(promoted),
            "rejections": sum(1 for v in result.versions if v.decision == "rejected"),
            "first_version": result.first_version,
            "final_version": result.final_version,
            "first_truth_before": first.truth_before,
            "first_truth_after": first.truth_after,
            "final_truth_before": final.truth_before,
            "final_truth_after": final.truth_after,
            "final_seed_holdout_accuracy": final.seed_holdout_accuracy,
            "lowest_promoted_seed_holdout_accuracy": min(
                (v.seed_holdout_accuracy or 0.0 for v in promoted), default=None
            ),
            "dead_letters": result.dead_letters,
            "elapsed_seconds": result.elapsed_seconds,
        },
        "batches": [dataclasses.asdict(b) for b in result.batches],
        "versions": [dataclasses.asdict(v) for v in result.versions],
    }


def table(result: Result) -> str:
    """One line per batch: who served it, how it did, and what the training it asked for decided."""
    s = result.scenario
    lines = [
        f"scenario {s.name}: {s.batches} batches of {s.batch_size}, "
        f"{result.drift}{f' from batch {s.drift_at}' if s.drift != 'none' else ''}, "
        f"{s.feedback} feedback{f' (noise {s.noise_rate:.0%})' if s.feedback == 'noisy' else ''}, "
        f"seed {s.seed}",
        f"{'batch':>5} {'drift':>5} {'served by':<26} {'batch acc':>9} {'truth acc':>9} "
        f"{'rated wrong':>11}  decision (challenger seed hold-out acc, truth acc)",
    ]
    versions = {v.version: v for v in result.versions}
    for b in result.batches:
        decisions = "; ".join(
            f"{j.decision} ({_pct(j.seed_holdout_accuracy)}, "
            f"{_pct(_truth(versions, j.candidate_version, b.drifted))})"
            for j in b.jobs
        )
        lines.append(
            f"{b.index:>5} {'yes' if b.drifted else '':>5} {b.served_by:<26} {b.batch_accuracy:>9.3f} "
            f"{b.truth_accuracy:>9.3f} {b.rated_wrong:>11}  {decisions or '-'}"
        )
    summary = to_dict(result)["summary"]
    lines.append(
        f"promotions {summary['promotions']}, rejections {summary['rejections']}; "
        f"truth accuracy after the drift: first model {summary['first_truth_after']:.3f}, "
        f"final model {summary['final_truth_after']:.3f}; final seed hold-out accuracy "
        f"{_pct(summary['final_seed_holdout_accuracy'])} (floor {result.gate['accuracy_floor']:.3f}); "
        f"{result.elapsed_seconds:.1f} s"
    )
    return "\n".join(lines)


def _truth(versions: dict[str, VersionRecord], version: str | None, drifted: bool) -> float | None:
    """A candidate's accuracy on the truth as the world is at the batch that asked for it."""
    if version is None:
        return None
    record = versions[version]
    return record.truth_after if drifted else record.truth_before


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def plot(result: Result, path: Path) -> Path:
    """Accuracy of the serving model per batch, with the drift and every gate decision marked."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    s = result.scenario
    index = [b.index for b in result.batches]
    versions = {v.version: v for v in result.versions}
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=100)
    ax.plot(index, [b.truth_accuracy for b in result.batches], "o-", label="serving model on the truth set")
    ax.plot(index, [b.batch_accuracy for b in result.batches], ".:", alpha=0.6, label="on the batch itself")
    ax.plot(
        index,
        [versions[b.served_by].seed_holdout_accuracy for b in result.batches],
        "s--",
        markersize=3,
        alpha=0.7,
        label="serving model on the seed hold-out",
    )
    ax.axhline(result.gate["accuracy_floor"], color="grey", linewidth=0.8, linestyle="--")
    ax.annotate(
        "gate floor (seed hold-out)",
        (index[0], result.gate["accuracy_floor"] - 0.02),
        fontsize=8,
        color="grey",
    )
    if s.drift != "none" and s.drift_at < s.batches:
        ax.axvline(s.drift_at - 0.5, color="tab:red", alpha=0.5)
        ax.annotate(" drift", (s.drift_at - 0.5, 0.52), color="tab:red", fontsize=8)
    promoted = [j.batch + 0.5 for j in result.jobs if j.decision == "promoted"]
    rejected = [j.batch + 0.5 for j in result.jobs if j.decision == "rejected"]
    ax.scatter(promoted, [1.015] * len(promoted), marker="^", color="tab:green", label="promoted")
    ax.scatter(rejected, [1.015] * len(rejected), marker="x", color="tab:red", label="rejected")
    ax.set_ylim(0.5, 1.04)
    ax.set_xlabel("batch (a decision after a batch is drawn between it and the next)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{s.name}: {result.drift}; {s.feedback} feedback", fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


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
