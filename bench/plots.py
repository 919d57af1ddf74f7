"""PNG plots of the benchmark results."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def prediction_core(payload: dict[str, Any], path: Path) -> Path:
    rows = [r["rows"] for r in payload["results"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, style in (("svmflow", "o-"), ("floor", "s--"), ("reference", "^:")):
        ax.plot(rows, [r["records_per_second"][name] for r in payload["results"]], style, label=name)
    ax.set(xscale="log", yscale="log", xlabel="rows per batch", ylabel="records per second")
    ax.set_title("Prediction core: decode, predict, encode")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bars(title: str, labels: list[str], values: list[float], unit: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.barh(labels, values, color=["#3b7dd8", "#999999", "#bbbbbb", "#dddddd"][: len(values)])
    ax.set(xlabel=unit, title=title)
    for index, value in enumerate(values):
        ax.text(value, index, f" {value:,.3g}", va="center")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def grouped(
    title: str, groups: list[str], series: dict[str, list[float]], unit: str, path: Path, log: bool = False
) -> Path:
    """Bars side by side: one group per x label, one bar per series."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    width = 0.8 / len(series)
    colours = ["#999999", "#3b7dd8", "#e08a2c", "#4caf50"]
    for index, (name, values) in enumerate(series.items()):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        bars = ax.bar(xs, values, width, label=name, color=colours[index % len(colours)])
        ax.bar_label(bars, labels=[f"{v:,.3g}" for v in values], fontsize=7)
    ax.set_xticks(range(len(groups)), groups)
    ax.set(ylabel=unit, title=title)
    if log:
        ax.set_yscale("log")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def ingest_api(payload: dict[str, Any], path: Path) -> Path:
    results = payload["results"]
    sizes = sorted({r["rows"] for r in results})
    series = {
        "floor (bare endpoint)": [
            statistics.median(r["bare"]["rps"] for r in results if r["rows"] == s) for s in sizes
        ]
    }
    for mode in dict.fromkeys(r["mode"] for r in results):
        series[f"ingest API, {mode}"] = [
            r["api"]["rps"] for s in sizes for r in results if r["rows"] == s and r["mode"] == mode
        ]
    return grouped(
        "Ingest API: POST /v1/batches",
        [f"{s:,} rows" for s in sizes],
        series,
        "requests per second (median round)",
        path,
        log=True,
    )


def end_to_end(payload: dict[str, Any], path: Path) -> Path:
    quantiles = ("p50_ms", "p95_ms", "p99_ms")
    series = {f"{r['mode']} end to end": [r["end_to_end"][q] for q in quantiles] for r in payload["results"]}
    series |= {f"{r['mode']} POST": [r["post"][q] for q in quantiles] for r in payload["results"]}
    return grouped(
        f"POST to pollable result, {payload['rate']:.0f} batches of {payload['rows']} rows/s",
        ["p50", "p95", "p99"],
        series,
        "milliseconds",
        path,
    )


def mlserver(payload: dict[str, Any], path: Path) -> Path:
    results = payload["results"]
    modes = [key for key in results[0] if key.endswith("_ratio")]
    series = {"MLServer (synchronous)": [r["mlserver"]["records_per_second"] for r in results]}
    for key in modes:
        mode = key.removesuffix("_ratio")
        series[f"svmflow {mode}, end to end"] = [r[mode]["records_per_second"] for r in results]
    return grouped(
        "Records per second on the same batches",
        [f"{r['rows']:,} rows" for r in results],
        series,
        "records per second (median round)",
        path,
        log=True,
    )
