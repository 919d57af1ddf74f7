"""PNG plots of the benchmark results."""

from __future__ import annotations

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
