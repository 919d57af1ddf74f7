"""``svmflow predict-file`` and ``svmflow init``: a file in, predictions or a data set spec out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from svmflow.config import Settings


def cmd_predict_file(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow import bulk_command

    return bulk_command.run(settings, args)


def cmd_init(_: Settings, args: argparse.Namespace) -> int:
    from svmflow.datasets.csv_table import CsvError
    from svmflow.datasets.inference import infer
    from svmflow.datasets.spec import SpecError

    out: Path = args.out or args.data.with_suffix(".toml")
    if out.exists() and not args.force:
        print(f"error: {out} exists; pass --force to overwrite it, or --out elsewhere", file=sys.stderr)
        return 2
    try:
        inferred = infer(args.data, args.label, out, args.name)
    except (CsvError, SpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.data}: {inferred.preview()}\n")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(inferred.to_toml())
    print(f"wrote {out} (model {inferred.spec.name!r}); edit it to add bounds, units or class names")
    return 0
