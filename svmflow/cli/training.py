"""``svmflow seed``, ``svmflow train`` and ``svmflow jobs``: the training data, training now, and the
training requests."""

from __future__ import annotations

import argparse
import sys

from svmflow import operations
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.domain.records import DecisionRecord
from svmflow.errors import TransientError


def cmd_seed(settings: Settings, args: argparse.Namespace) -> int:
    added = operations.seed(Container(settings), args.data)
    print(f"seeded {added} new training rows")
    return 0


def cmd_train(settings: Settings, _: argparse.Namespace) -> int:
    container = Container(settings)
    operations.seed(container)
    try:
        event = operations.train(container)
    except TransientError as exc:
        print(f"training could not run now: {exc}", file=sys.stderr)
        return 1
    print(f"decision: {event.decision} ({event.reason})")
    if event.decision in ("queued", "running", "covered"):
        print(f"job {event.job_id}: follow it with `svmflow jobs`")
        return 0
    if event.training is not None:
        t = event.training
        print(
            f"candidate {event.candidate_version}: C={t.c:g} by {t.metric} cross-validation over "
            f"{t.c_grid}, class weight {t.class_weight}; {t.train_rows} training rows "
            f"({t.feedback_rows} from feedback, {t.quarantined_rows} quarantined)"
        )
    if event.record is not None:
        for line in describe_record(event.record):
            print(f"  {line}")
    print(f"in production: {event.current_version}")
    return 0 if event.decision != "failed" else 1


def describe_record(record: DecisionRecord) -> list[str]:
    """The numbers a decision used, one line each."""
    lines = []
    seed = record.challenger_seed
    delta = "" if record.seed_delta is None else f", {record.seed_delta:+.3f} vs the champion"
    lines.append(f"seed hold-out {seed.metric} {seed.value:.3f} [{seed.low:.3f}, {seed.high:.3f}]{delta}")
    if record.challenger_window is not None and record.champion_window is not None:
        ours, theirs = record.challenger_window, record.champion_window
        lines.append(
            f"latest {record.window_rows} rated rows: challenger {ours.value:.3f} [{ours.low:.3f}, "
            f"{ours.high:.3f}], champion {theirs.value:.3f} [{theirs.low:.3f}, {theirs.high:.3f}]"
        )
        recall = ", ".join(f"class {r.label} {r.recall:.3f}" for r in ours.recall if r.recall is not None)
        lines.append(f"challenger recall on the window: {recall}")
    if record.p_value is not None:
        drift = "" if record.drift_p_value is None else f"; drift p = {record.drift_p_value:.2g}"
        lines.append(
            f"paired test {record.look} against this champion: {record.challenger_only} rows favour the "
            f"challenger, {record.champion_only} the champion, p = {record.p_value:.2g} "
            f"(alpha {record.alpha or 0:.2g}){drift}"
        )
    return lines


def cmd_jobs(settings: Settings, args: argparse.Namespace) -> int:
    from svmflow.db import job_queue

    records = job_queue.records(Container(settings).db, args.limit)
    print(f"{'received (UTC)':20}{'job':36}{'status':10}{'labels':>8}  detail")
    for r in records:
        print(
            f"{r.received_at:%Y-%m-%d %H:%M:%S}  {r.job_id:34}{r.status:10}{r.labels_wanted:>8}  {r.detail}"
        )
    print(f"{len(records)} training request(s)")
    return 0
