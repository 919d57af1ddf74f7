"""``svmflow evaluate``: replay scenarios through the pipeline and write their reports."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from svmflow.config import Settings
from svmflow.evaluation.scenario import DEFAULT_SCENARIOS, PRESETS, Scenario


def default_out(settings: Settings) -> Path:
    """Reports go under the state directory (SVMFLOW_STATE_DIR), beside everything else the system keeps."""
    return settings.state_dir / "evaluation"


def add_parser(commands: Any, settings: Settings) -> None:
    parser = commands.add_parser(
        "evaluate",
        help="replay scenarios through the pipeline: accuracy per batch and per model, gate decisions",
        description="Replay a stream of held-out batches through the whole pipeline (embedded mode, a "
        "fresh private state), with an optional drift and a feedback policy; write JSON, a table and a "
        "plot per scenario. Gate and retraining settings come from SVMFLOW_* as usual.",
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*PRESETS, "all"],
        help="preset to run (repeatable; default: all but relabel)",
    )
    out = default_out(settings)
    parser.add_argument("--out", type=Path, help=f"report folder (default: {out}, under SVMFLOW_STATE_DIR)")
    parser.add_argument("--batches", type=int, help="number of batches")
    parser.add_argument("--batch-size", type=int, help="rows per batch")
    parser.add_argument("--drift", choices=["none", "shift", "gradual", "relabel"], help="kind of drift")
    parser.add_argument("--drift-at", type=int, help="first drifted batch (0-based)")
    parser.add_argument(
        "--feedback", choices=["honest", "noisy", "adversarial", "targeted"], help="feedback policy"
    )
    parser.add_argument("--rated-share", type=float, help="share of batches that are rated")
    parser.add_argument("--noise-rate", type=float, help="noisy feedback: share of ratings flipped")
    parser.add_argument("--seed", type=int, help="random seed of the batches and of the noise")
    parser.add_argument(
        "--state-dir", type=Path, help="keep the pipeline's state here (one scenario; must be empty)"
    )
    parser.set_defaults(command=run)


def scenarios(args: argparse.Namespace) -> list[Scenario]:
    names = args.scenario or ["all"]
    chosen = DEFAULT_SCENARIOS if "all" in names else list(dict.fromkeys(names))
    overrides = {
        key: value
        for key, value in {
            "batches": args.batches,
            "batch_size": args.batch_size,
            "drift": args.drift,
            "drift_at": args.drift_at,
            "feedback": args.feedback,
            "noise_rate": args.noise_rate,
            "rated_share": args.rated_share,
            "seed": args.seed,
        }.items()
        if value is not None
    }
    return [PRESETS[name].with_(**overrides) for name in chosen]


def run(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.evaluation import replay, report

    if args.log_level is None:
        # Every message of the replay would log a line; the report is what matters here.
        logging.getLogger().setLevel(logging.ERROR)
    chosen = scenarios(args)
    if args.state_dir is not None and len(chosen) != 1:
        raise ValueError("--state-dir needs exactly one --scenario")
    out = args.out or default_out(settings)
    results = []
    for scenario in chosen:
        result = replay.run(scenario, settings, args.state_dir)
        results.append(result)
        paths = report.write(result, out)
        print(report.table(result))
        print(f"wrote {paths['json']}, {paths['table']}, {paths['plot']}\n", flush=True)
    summary = report.summary_table(results)
    (out / "summary.md").write_text(summary + "\n")
    print(summary)
    return 0
