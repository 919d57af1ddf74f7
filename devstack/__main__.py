"""``python -m devstack`` (``make run-emulated``): the system on the emulated stack.

The Pub/Sub emulator with the production topology, fake-gcs-server, one functions-framework process per
function, both APIs, on this machine's Redis and PostgreSQL. Seeds, trains when no model is in
production, prints the addresses, and stops everything it started on Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from devstack.local import ensure_database, machine_config
from devstack.processes import ProcessError
from devstack.stack import EmulatedStack
from svmflow import demo, logs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.splitlines()[0])
    ingest_port = int(os.environ.get("SVMFLOW_INGEST_PORT") or 8080)
    predict_port = int(os.environ.get("SVMFLOW_PREDICT_PORT") or 8081)
    parser.add_argument(
        "--ingest-port", type=int, default=ingest_port, help="default: %(default)s (SVMFLOW_INGEST_PORT)"
    )
    parser.add_argument(
        "--predict-port", type=int, default=predict_port, help="default: %(default)s (SVMFLOW_PREDICT_PORT)"
    )
    parser.add_argument("--run-dir", type=Path, help="logs of every process (default: a temporary folder)")
    parser.add_argument(
        "--bucket-dir",
        type=Path,
        default=Path(os.environ.get("SVMFLOW_STATE_DIR", ".svmflow")) / "emulated-bucket",
        help="where fake-gcs-server keeps the model bucket across restarts (default: %(default)s)",
    )
    args = parser.parse_args(argv)
    logs.configure("INFO", "svmflow-local")
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="svmflow-emulated-"))
    config = machine_config(
        run_dir,
        ingest_port=args.ingest_port,
        predict_port=args.predict_port,
        bucket_dir=args.bucket_dir.resolve(),
    )

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print("starting the emulated stack ...", flush=True)
    try:
        ensure_database(config.database_url)
        stack = EmulatedStack(config).start()
    except (ProcessError, OSError) as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    try:
        event = stack.bootstrap_model()
        if event is not None:
            logging.getLogger(__name__).info("initial model: %s (%s)", event.decision, event.reason)
        current = stack.container.read_model.current_model()
        print(
            f"""
svmflow is running on the emulated stack.
  ingest API        {stack.ingest_url}    POST /v1/batches
  predict API       {stack.predict_url}    GET|PATCH /v1/batches/{{id}}, /v1/models/current
  console           {stack.predict_url}/console/    (API reference: {stack.predict_url}/docs)
  API key           {"dev-local-key (SVMFLOW_SECRET_API_KEYS to change)"}
  Pub/Sub emulator  {stack.emulator_host}    (PUBSUB_EMULATOR_HOST)
  fake-gcs-server   {stack.storage_endpoint}    bucket {config.model_bucket}
  Redis             {config.redis_url}    keys {config.cache_prefix}*
  Postgres          {config.database_url}
  functions         {", ".join(f"{n}:{p}" for n, p in stack.function_ports.items())}
  logs              {stack.log_dir}
  model             {current.version if current else "none yet"} in production

Try it: {demo.command("--ingest-url", stack.ingest_url, "--predict-url", stack.predict_url)}
Ctrl-C stops everything.""",
            flush=True,
        )
        stop.wait()
        print("stopping ...", flush=True)
    finally:
        stack.stop()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
