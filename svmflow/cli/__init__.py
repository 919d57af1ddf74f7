"""``svmflow``: run the system and operate it (seed, train, models, read model, dead letters, schemas)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from svmflow import logs
from svmflow.cli.parser import build_parser
from svmflow.config import ConfigError, Settings
from svmflow.errors import SvmflowError


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings: Settings | None = Settings.from_env()
    except ConfigError as exc:
        problem = exc
        settings = None
    # The help shows the defaults the commands really use, so it is built from the settings.
    args = _parser(settings or Settings()).parse_args(argv)
    if settings is None:
        print(f"configuration error: {problem}", file=sys.stderr)
        return 2
    logs.configure(args.log_level or settings.log_level, settings.project)
    try:
        return int(args.command(settings, args) or 0)
    except (SvmflowError, KeyError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser(settings: Settings) -> argparse.ArgumentParser:
    # This package's docstring is the description `svmflow --help` opens with.
    return build_parser(settings, description=__doc__)
