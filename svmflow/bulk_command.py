"""``svmflow predict-file``: submit a bulk file through the ingest API and show its progress."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from svmflow.bootstrap import Container
from svmflow.bulk.files import PREFIX
from svmflow.client import Client, ClientError
from svmflow.config import Settings
from svmflow.terminal import ProgressBar


def object_name(settings: Settings, argument: str) -> str:
    """What to name in the request. A local file (embedded mode) under the bucket folder is named by
    its place there; one elsewhere is first copied into ``bulk/``, as one would upload it to a bucket."""
    if argument.startswith("gs://") or not Path(argument).exists():
        return argument
    if settings.mode != "embedded" or settings.storage_endpoint:
        raise ValueError(f"{argument} is a local file: upload it to gs://{settings.model_bucket}/{PREFIX}")
    local = Path(argument).resolve()
    root = settings.bucket_dir.resolve()
    if root not in local.parents:
        target = root / PREFIX / local.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local, target)
        print(f"copied {argument} to the bucket as {PREFIX}{local.name}", file=sys.stderr)
        local = target
    return local.relative_to(root).as_posix()


def run(settings: Settings, args: argparse.Namespace) -> int:
    key = args.api_key or Container(settings).secrets.get("api-keys").replace(",", " ").split()[0]
    name = object_name(settings, args.file)
    with Client(
        args.ingest_url or f"http://127.0.0.1:{settings.ingest_port}",
        args.predict_url or f"http://127.0.0.1:{settings.predict_port}",
        key,
    ) as client:
        try:
            accepted = client.submit_file(name)
            print(f"bulk job {accepted.job_id} accepted for {accepted.uri}", file=sys.stderr)
            if args.no_wait:
                print(accepted.job_id)
                return 0
            bar = ProgressBar()
            done = client.wait_file(
                accepted.job_id,
                timeout=args.timeout,
                on_progress=lambda p: bar.update(p.rows_done, p.rows_total, p.rows_per_second, p.eta_seconds),
            )
        except ClientError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        bar.close(done.rows_done, done.rows_total, done.rows_per_second)
    if done.status != "done":
        print(f"bulk job {done.job_id} failed: {done.error}", file=sys.stderr)
        return 1
    print(f"model {done.model_version}: {done.rows_done:,} rows predicted, {done.rows_failed:,} bad lines")
    print(f"results  {done.results_uri}")
    print(f"errors   {done.errors_uri}")
    print(f"manifest {done.manifest_uri}")
    return 0
