"""``svmflow run`` and ``svmflow demo``: host the embedded system, and walk through the loop against it."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from svmflow import demo
from svmflow.bootstrap import Container
from svmflow.config import Settings

if TYPE_CHECKING:
    from svmflow.embedded import HttpService


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    if settings.mode != "embedded":
        print(
            "`svmflow run` hosts the embedded mode; see the README for the emulated stack",
            file=sys.stderr,
        )
        return 2
    settings = settings.with_(
        api_host=args.host or settings.api_host,
        ingest_port=args.ingest_port or settings.ingest_port,
        predict_port=args.predict_port or settings.predict_port,
    )
    from svmflow.embedded import EmbeddedSystem, ensure_state_dir_free
    from svmflow.runtime.listen import PortUnavailableError, check_free

    try:
        ensure_state_dir_free(settings.state_dir)
        check_free(settings)
    except PortUnavailableError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    ingest_url, predict_url = local_urls(settings)
    system = EmbeddedSystem(settings)
    try:
        print(f"starting svmflow (embedded mode, state in {settings.state_dir}) ...", flush=True)
        system.start()
        container = system.container
        system.serve(_api_services(container, settings, ingest_url, predict_url))
        _print_banner(container, ingest_url, predict_url)
        stop.wait()
        print("stopping ...", flush=True)
    finally:
        system.stop()
    print("stopped", flush=True)
    return 0


def _api_services(
    container: Container, settings: Settings, ingest_url: str, predict_url: str
) -> list[HttpService]:
    """Both HTTP APIs over the running system's container."""
    # This command is the composition root of the local system, so it alone reaches for the API
    # package; nothing else in the core does.
    from api.app import create_ingest_app, create_predict_app
    from api.server import uvicorn_options
    from api.wiring import backend_of
    from svmflow.embedded import HttpService

    return [
        HttpService(
            "ingest",
            create_ingest_app(backend_of(container), predict_url=predict_url),
            settings.api_host,
            settings.ingest_port,
            uvicorn_options(),
        ),
        HttpService(
            "predict",
            create_predict_app(backend_of(container), predict_url=predict_url, ingest_url=ingest_url),
            settings.api_host,
            settings.predict_port,
            uvicorn_options(),
        ),
    ]


def local_urls(settings: Settings) -> tuple[str, str]:
    """Where `svmflow run` serves the ingest and predict APIs, as a client on this machine reaches them."""
    wildcard = settings.api_host in ("0.0.0.0", "::", "")  # noqa: S104 (compared, not bound)
    host = "127.0.0.1" if wildcard else settings.api_host
    if ":" in host:
        host = f"[{host}]"
    return (
        settings.ingest_url or f"http://{host}:{settings.ingest_port}",
        settings.predict_url or f"http://{host}:{settings.predict_port}",
    )


def _print_banner(container: Container, ingest_url: str, predict_url: str) -> None:
    from svmflow.adapters.secrets import LOCAL_DEFAULTS

    keys = container.secrets.get("api-keys")
    default = LOCAL_DEFAULTS["api-keys"]
    key = default if keys == default else "the one in SVMFLOW_SECRET_API_KEYS"
    current = container.read_model.current_model()
    model = current.version if current else "none yet"
    if (ingest_url, predict_url) == local_urls(Settings()):
        # Where the Makefile's demo target goes from a new shell.
        demo_hint = f"make demo    (or {demo.command()})"
    else:
        demo_hint = demo.command("--ingest-url", ingest_url, "--predict-url", predict_url)
    print(
        f"""
svmflow is running.
  ingest API   {ingest_url}    POST /v1/batches
  predict API  {predict_url}    GET /v1/batches/{{id}}, PATCH /v1/batches/{{id}}, /v1/models, /v1/jobs
  API key      {key}    (header X-API-Key, or Authorization: Bearer)
  console      {predict_url}/console/    (API reference: {predict_url}/docs)
  OpenAPI      {ingest_url}/openapi.json  {predict_url}/openapi.json
  model        {model} in production

Try it: {demo_hint}
  (API examples: api/README.md)
Ctrl-C stops everything.""",
        flush=True,
    )


def default_key_shown(settings: Settings) -> str:
    """What the demo sends without --api-key, as its help can say without reading a secret store."""
    if settings.mode != "gcp" and not settings.secret_manager_endpoint:
        from svmflow.adapters.secrets import LOCAL_DEFAULTS

        if "SVMFLOW_SECRET_API_KEYS" not in os.environ:
            return LOCAL_DEFAULTS["api-keys"]
        return "the first key in SVMFLOW_SECRET_API_KEYS"
    return f"the first key in the {settings.secret_prefix}api-keys secret"


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    first = Container(settings).secrets.get("api-keys").replace(",", " ").split()[0]
    # An entry may name its role (`operator:KEY`); the key is what follows.
    role, sep, rest = first.partition(":")
    key = args.api_key or (rest if sep and role in ("user", "operator") and rest else first)
    client = demo.Client(args.ingest_url, args.predict_url, key)
    try:
        with client:
            demo.run(client, settings.data_path, rows=args.rows, wait_seconds=args.wait)
    except demo.DemoError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    print("\ndemo finished")
    return 0
