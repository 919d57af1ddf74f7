"""The two ASGI apps. ``create_ingest_app(container)`` and ``create_predict_app(container)`` take the
core's container, so the same code serves Cloud Run (Pub/Sub, Memorystore) and the embedded runtime."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable

import msgspec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api import ingest, predict
from api.errors import EXCEPTION_HANDLERS, PROBLEM_JSON, UnavailableError
from api.models import Health
from api.openapi import ingest_document, predict_document
from api.service import Service
from svmflow.bootstrap import Container

Endpoint = Callable[[Request], Awaitable[Response]]

# Smaller answers (a pending batch, a problem) are not worth the CPU.
GZIP_MINIMUM_BYTES = 500


def protected(endpoint: Endpoint) -> Endpoint:
    """Refuse the request with 401 before anything else (the body is not even read) without a valid key."""

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        service: Service = request.app.state.service
        request.state.identity = await run_in_threadpool(service.api_keys.authenticate, request)
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


def _app(service: Service, routes: list[Route], document: dict[str, object]) -> Starlette:
    common = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", _openapi(document), methods=["GET"]),
    ]
    app = Starlette(
        routes=common + routes,
        middleware=[Middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    app.state.service = service
    return app


def _predict_url(container: Container, predict_url: str | None) -> str:
    if predict_url:
        return predict_url
    settings = container.settings
    return settings.predict_url or f"http://{settings.api_host}:{settings.predict_port}"


def create_ingest_app(
    container: Container,
    *,
    predict_url: str | None = None,
    max_body_bytes: int = ingest.MAX_BODY_BYTES,
) -> Starlette:
    service = Service(container, _predict_url(container, predict_url), max_body_bytes)
    routes = [Route("/v1/batches", protected(ingest.submit_batch), methods=["POST"])]
    return _app(service, routes, ingest_document(max_body_bytes))


def create_predict_app(container: Container, *, predict_url: str | None = None) -> Starlette:
    service = Service(container, _predict_url(container, predict_url), predict.MAX_FEEDBACK_BYTES)
    routes = [
        Route("/v1/batches", protected(predict.list_batches), methods=["GET"]),
        Route("/v1/batches/{batch_id}", protected(predict.get_batch), methods=["GET"]),
        Route("/v1/batches/{batch_id}", protected(predict.rate_batch), methods=["PATCH"]),
        Route("/v1/models/current", protected(predict.current_model), methods=["GET"]),
        Route("/v1/models", protected(predict.list_models), methods=["GET"]),
        Route("/v1/jobs", protected(predict.list_jobs), methods=["GET"]),
        Route("/v1/training-rows", protected(predict.training_rows), methods=["GET"]),
    ]
    return _app(service, routes, predict_document())
