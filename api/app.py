"""The two ASGI apps. ``create_ingest_app(backend)`` and ``create_predict_app(backend)`` take the parts
of the core they use (``api.service.Backend``, made by ``api.wiring.backend_of``), so the same code
serves Cloud Run (Pub/Sub, Memorystore) and the embedded runtime."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from api import bulk, console, dead_letters, ingest, operator, predict
from api.errors import EXCEPTION_HANDLERS, PROBLEM_JSON, UnavailableError
from api.models import Health
from api.openapi import ingest_document, predict_document, with_dataset
from api.service import Backend, Service
from svmflow import telemetry
from svmflow.config import Settings

Endpoint = Callable[[Request], Awaitable[Response]]

# Smaller answers (a pending batch, a problem) are not worth the CPU.
GZIP_MINIMUM_BYTES = 500


def protected(endpoint: Endpoint) -> Endpoint:
    """Refuse the request with 401 before anything else (the body is not even read) without a valid key."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        service: Service = request.app.state.service
        caller = await run_in_threadpool(service.api_keys.caller, request)
        request.state.identity = caller.identity
        request.state.caller = caller
        return await endpoint(request)

    return guarded


async def healthz(_: Request) -> Response:
    return Response(msgspec.json.encode(Health(status="ok")), media_type="application/json")


async def readyz(request: Request) -> Response:
    service: Service = request.app.state.service
    checks = await run_in_threadpool(service.check_ready)
    if all(value == "ok" for value in checks.values()):
        return Response(
            msgspec.json.encode(Health(status="ok", checks=checks)), media_type="application/json"
        )
    failing = ", ".join(f"{name} {value}" for name, value in checks.items() if value != "ok")
    error = UnavailableError(f"not ready: {failing}")
    problem = msgspec.to_builtins(error.problem()) | {"checks": checks}
    return Response(msgspec.json.encode(problem), status_code=503, media_type=PROBLEM_JSON)


def _openapi(document: dict[str, object]) -> Endpoint:
    body = msgspec.json.encode(document)

    async def serve(_: Request) -> Response:
        return Response(body, media_type="application/json")

    return serve


def _telemetry(service: Service, name: str) -> tuple[list[BaseRoute], list[Middleware]]:
    """Traces and metrics, when the settings turn them on: the middleware and ``GET /metrics``."""
    active = telemetry.configure(service.settings)
    if active is None:
        return [], []
    from api.telemetry import TelemetryMiddleware, metrics_route

    if name == "ingest":
        active.watch_pending(service.backend.read_model)
    routes: list[BaseRoute] = [metrics_route(active)] if active.scrape_reader is not None else []
    return routes, [Middleware(TelemetryMiddleware, telemetry=active, api=name)]


def _app(
    service: Service,
    routes: list[BaseRoute],
    document: dict[str, object],
    outer: list[Middleware] | None = None,
    *,
    name: str,
) -> Starlette:
    observed, observing = _telemetry(service, name)
    common: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", _openapi(document), methods=["GET"]),
        *observed,
    ]
    app = Starlette(
        routes=common + routes,
        middleware=[*observing, *(outer or []), Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.service = service
    return app


def _predict_url(settings: Settings, predict_url: str | None) -> str:
    if predict_url:
        return predict_url
    return settings.predict_url or f"http://{settings.api_host}:{settings.predict_port}"


def _ingest_url(settings: Settings, ingest_url: str | None) -> str:
    if ingest_url:
        return ingest_url
    return settings.ingest_url or f"http://{settings.api_host}:{settings.ingest_port}"


def console_origins(settings: Settings, predict_url: str) -> list[str]:
    """The browser origins allowed to call the ingest API: the console's (the predict API's) and any
    configured in ``SVMFLOW_CONSOLE_ORIGINS``."""
    extra = [o.strip() for o in settings.console_origins.split(",") if o.strip()]
    return sorted({console.origin(predict_url), *(console.origin(o) for o in extra)})


def create_ingest_app(
    backend: Backend,
    *,
    predict_url: str | None = None,
    max_body_bytes: int = ingest.MAX_BODY_BYTES,
) -> Starlette:
    service = Service(backend, _predict_url(backend.settings, predict_url), max_body_bytes)
    routes: list[BaseRoute] = [
        Route("/v1/batches", protected(ingest.submit_batch), methods=["POST"]),
        Route("/v1/jobs/bulk", protected(bulk.submit_bulk), methods=["POST"]),
    ]
    # The console, served by the predict API, submits batches here from the browser.
    cors = Middleware(
        CORSMiddleware,
        allow_origins=console_origins(backend.settings, service.predict_url),
        allow_methods=["GET", "POST"],
        allow_headers=["X-API-Key", "Authorization", "Content-Type", "Idempotency-Key"],
        expose_headers=["Location"],
        max_age=600,
    )
    document = with_dataset(ingest_document(max_body_bytes), service.dataset.spec)
    return _app(service, routes, document, outer=[cors], name="ingest")


def create_predict_app(
    backend: Backend, *, predict_url: str | None = None, ingest_url: str | None = None
) -> Starlette:
    service = Service(backend, _predict_url(backend.settings, predict_url), predict.MAX_FEEDBACK_BYTES)
    ingest_at = _ingest_url(backend.settings, ingest_url)
    routes: list[BaseRoute] = [
        Route("/v1/batches", protected(predict.list_batches), methods=["GET"]),
        Route("/v1/batches/{batch_id}", protected(predict.get_batch), methods=["GET"]),
        Route("/v1/batches/{batch_id}", protected(predict.rate_batch), methods=["PATCH"]),
        Route("/v1/batches/{batch_id}/deliveries", protected(predict.batch_deliveries), methods=["GET"]),
        Route(
            "/v1/batches/{batch_id}/training-labels",
            protected(predict.batch_training_labels),
            methods=["GET"],
        ),
        Route("/v1/models/current", protected(predict.current_model), methods=["GET"]),
        Route("/v1/models", protected(predict.list_models), methods=["GET"]),
        Route("/v1/models/{version}/performance", protected(predict.model_performance), methods=["GET"]),
        Route("/v1/models/{version}/drift", protected(predict.model_drift), methods=["GET"]),
        Route("/v1/jobs", protected(predict.list_jobs), methods=["GET"]),
        Route("/v1/jobs/bulk/{job_id}", protected(bulk.bulk_progress), methods=["GET"]),
        Route("/v1/me", protected(operator.me), methods=["GET"]),
        Route("/v1/models/rollback", protected(operator.rollback), methods=["POST"]),
        Route("/v1/dead-letters", protected(dead_letters.list_dead_letters), methods=["GET"]),
        Route("/v1/dead-letters/{message_id}/replay", protected(dead_letters.replay), methods=["POST"]),
        *console.routes(ingest_at),
        Route("/v1/training-rows", protected(predict.training_rows), methods=["GET"]),
    ]
    policy = console.content_security_policy([console.origin(ingest_at)])
    headers = Middleware(console.PageHeaders, policy=policy)
    document = with_dataset(predict_document(), service.dataset.spec)
    return _app(service, routes, document, outer=[headers], name="predict")
