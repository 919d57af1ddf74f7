"""``python -m api ingest|predict [--host H] [--port P]``: serve one API (the container image runs this).

The port defaults to ``$PORT`` (Cloud Run sets it), then to SVMFLOW_INGEST_PORT / SVMFLOW_PREDICT_PORT.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

import uvicorn

from svmflow import logs
from svmflow.bootstrap import Container
from svmflow.config import ConfigError, Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__.splitlines()[0])
    parser.add_argument("api", choices=["ingest", "predict"])
    parser.add_argument(
        "--host", help="address to listen on (default: 0.0.0.0 under $PORT, else SVMFLOW_API_HOST)"
    )
    parser.add_argument("--port", type=int, help="port (default: $PORT, else the API's SVMFLOW_*_PORT)")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    # Alongside `svmflow run`, the bus is a shared file and the Redis stand-in listens on TCP.
    settings = settings.reaching_embedded_redis()
    logs.configure(settings.log_level, settings.project)

    from api.app import create_ingest_app, create_predict_app
    from api.server import uvicorn_options
    from api.wiring import backend_of

    container = Container(settings)
    app = (
        create_ingest_app(backend_of(container))
        if args.api == "ingest"
        else create_predict_app(backend_of(container))
    )
    cloud_port = os.environ.get("PORT")
    default_port = settings.ingest_port if args.api == "ingest" else settings.predict_port
    port = args.port or (int(cloud_port) if cloud_port else default_port)
    host = args.host or ("0.0.0.0" if cloud_port else settings.api_host)  # noqa: S104 (a container's only interface)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="*",
        **uvicorn_options(),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
