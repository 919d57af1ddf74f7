"""``svmflow models``: the versions, rolling back, and how the one in production does on live data."""

from __future__ import annotations

import argparse
import sys

import msgspec

from svmflow import operations
from svmflow.bootstrap import Container
from svmflow.config import Settings


def cmd_models_list(settings: Settings, _: argparse.Namespace) -> int:
    registry = Container(settings).registry
    pointer = registry.pointer()[0]
    print(f"{'':2}{'version':28}{'seed acc':>9}{'window':>8}{'C':>6}{'rows':>7}  decision")
    for meta in sorted((registry.metadata(v) for v in registry.versions()), key=lambda m: m.created_at):
        version = meta.version
        challenger = meta.metrics.challenger
        seed = 0.0 if challenger is None else challenger.seed_holdout_accuracy
        window = None if challenger is None else challenger.feedback_holdout_accuracy
        training = meta.metrics.training
        record = meta.metrics.record
        decision = (record.sentence if record is not None else "") or "-"
        marker = "* " if pointer and pointer.version == version else "  "
        c = None if training is None else training.c
        print(
            f"{marker}{version:28}{seed:>9.4f}"
            f"{'-' if window is None else f'{window:.4f}':>8}{'-' if c is None else f'{c:g}':>6}"
            f"{meta.train_size:>7}  {decision}"
        )
    print("(* = in production)" if pointer else "no model in production")
    return 0


def cmd_models_rollback(settings: Settings, args: argparse.Namespace) -> int:
    event = operations.rollback(Container(settings), args.version)
    print(f"production: {event.previous_version} -> {event.current_version}")
    return 0


def _named_or_production(container: Container, version: str | None) -> str | None:
    """The version named, else the one in production; None (said on stderr) when there is neither."""
    if version is not None:
        return version
    pointer, _ = container.registry.pointer()
    if pointer is None:
        print("no model in production; name a version", file=sys.stderr)
        return None
    return pointer.version


def cmd_models_performance(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db import performance
    from svmflow.domain.performance import Figure, Performance

    container = Container(settings)
    version = _named_or_production(container, args.version)
    if version is None:
        return 1
    with container.db.transaction() as session:
        figures = performance.load(session, version)
    if figures is None:
        print(f"no rated predictions of model version {version} yet")
        return 0
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(figures), indent=2).decode())
        return 0

    def cell(value: Figure | None) -> str:
        if value is None:
            return "-"
        return f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}] n={value.n}"

    def line(name: str, p: Performance) -> str:
        recalls = "  ".join(f"recall {label} {cell(f)}" for label, f in sorted(p.recall.items()))
        return (
            f"{name:<11}{p.labels:>7}  accuracy {cell(p.accuracy)}  "
            f"balanced {cell(p.balanced_accuracy)}  {recalls}"
        )

    print(f"model version {version}: figures with 95% Wilson intervals and the labels behind each")
    print(f"{'':<11}{'labels':>7}")
    print(line("overall", figures.overall))
    for day in figures.days:
        print(line(day.day, day))
    return 0


def cmd_models_drift(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db import drift
    from svmflow.domain.drift_windows import empty_view
    from svmflow.errors import ModelNotFoundError

    container = Container(settings)
    version = _named_or_production(container, args.version)
    if version is None:
        return 1
    with container.db.transaction() as session:
        view = drift.load(session, version)
    if view is None:
        try:
            container.registry.metadata(version)
        except ModelNotFoundError:
            print(f"no model version {version!r}", file=sys.stderr)
            return 1
        view = empty_view(version, settings.drift_window)
    if args.json:
        print(msgspec.json.format(msgspec.json.encode(view), indent=2).decode())
        return 0
    print(
        f"model version {version}: {view.windows_closed} window(s) of {view.window_size} records closed, "
        f"{view.records_in_window} record(s) in the open window"
    )
    if not view.features:
        print("no window has closed yet")
        return 0
    verdict = "DRIFTED: " + ", ".join(view.drifted_features) if view.drifted else "no drift"
    closed = f"{view.window_closed_at:%Y-%m-%d %H:%M:%S}"
    print(f"latest window (closed {closed} UTC, alpha {view.alpha:g}): {verdict}")
    print(f"{'feature':<16}{'PSI':>9}{'KS':>9}{'p-value':>11}{'shift (sd)':>12}  drifted")
    for f in view.features:
        p_value = "-" if f.p_value is None else f"{f.p_value:.2e}"
        print(
            f"{f.name:<16}{f.psi:>9.4f}{f.ks:>9.4f}{p_value:>11}{f.mean_shift_sd:>+12.3f}  "
            f"{'yes' if f.drifted else 'no'}"
        )
    return 0
