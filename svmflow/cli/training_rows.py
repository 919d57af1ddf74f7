"""``svmflow training-rows``: list the rows training uses; quarantine or restore them."""

from __future__ import annotations

import argparse
import sys

from svmflow import operations
from svmflow.bootstrap import Container
from svmflow.config import Settings


def cmd_training_rows_list(settings: Settings, args: argparse.Namespace) -> int:
    rows = operations.training_rows(
        Container(settings), batch_id=args.batch, source=args.source, status=args.status, limit=args.limit
    )
    print(f"{'id':>7} {'source':8} {'batch':24} {'label':>5} {'kind':11} {'status':11} {'by':22} reason")
    for r in rows:
        print(
            f"{r['id']:>7} {r['source']:8} {r['batch_id'] or '-'!s:24} {r['label']:>5} {r['kind']:11} "
            f"{r['status']:11} {r['labelled_by'] or '-'!s:22} {r['status_reason'] or ''}"
        )
    print(f"{len(rows)} row(s)")
    return 0


def cmd_training_rows_change(settings: Settings, args: argparse.Namespace) -> int:
    status = "quarantined" if args.status == "quarantine" else "active"
    try:
        changed = operations.set_row_status(
            Container(settings),
            status,
            batch_id=args.batch,
            source=args.source,
            row_ids=args.rows,
            reason=args.reason,
        )
    except ValueError as exc:
        print(f"svmflow training-rows {args.status}: {exc}", file=sys.stderr)
        return 2
    way = "without" if status == "quarantined" else "with"
    print(f"{changed} row(s) now {status}; `svmflow train` retrains {way} them")
    return 0
