"""The APIs' side of ``svmflow.telemetry``: one ASGI middleware and ``GET /metrics``.

The middleware writes a server span per request (continuing the caller's ``traceparent``, so a client
that sends back the ``traceresponse`` of its ``POST /v1/batches`` on its polls sees the poll that
fetched the results in the batch's trace), counts the request and its latency per route and status,
and notes each accepted batch for the gauge of the oldest pending batch. It is installed only when
telemetry is on.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from svmflow.telemetry import prometheus

if TYPE_CHECKING:
    from svmflow.telemetry.sdk import Telemetry

UNMATCHED = "unmatched"  # a 404 outside every route: one series, whatever the path


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, telemetry: Telemetry, api: str) -> None:
        self.app = app
        self.telemetry = telemetry
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            await self._read(scope, receive, send)
        else:
            await self._write(scope, receive, send)

    async def _read(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A read publishes nothing, so no span need be current while it runs: its span is written
        afterwards, and not at all for a poll answered "pending" (202), which would only repeat, every
        few milliseconds, that the batch is not done yet."""
        status = 500  # unless the app answers
        started, started_ns = time.perf_counter(), time.time_ns()

        async def send_observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_observed)
        finally:
            route = _route(scope)
            self.telemetry.record_request(self.api, "GET", route, status, time.perf_counter() - started)
            if status != 202:
                self.telemetry.request_span_after("GET", route, status, _traceparent(scope), started_ns)

    async def _write(self, scope: Scope, receive: Receive, send: Send) -> None:
        method: str = scope["method"]
        status = 500
        location: bytes | None = None
        started = time.perf_counter()
        # Current while the request runs: what it publishes continues this span's trace.
        with self.telemetry.request_span(method, _traceparent(scope)) as span:
            # W3C Trace Context level 2: the trace the request joined, for the client to carry on.
            context = span.get_span_context()
            traceresponse = f"00-{context.trace_id:032x}-{context.span_id:016x}-01".encode("ascii")

            async def send_traced(message: Message) -> None:
                nonlocal status, location
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = message.get("headers", [])
                    if status == 202:
                        location = next((v for k, v in headers if k == b"location"), None)
                    message = {**message, "headers": [*headers, (b"traceresponse", traceresponse)]}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = _route(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                self.telemetry.record_request(self.api, method, route, status, time.perf_counter() - started)
                if location and method == "POST" and route == "/v1/batches":
                    self.telemetry.pending.accepted(location.decode("latin-1").rsplit("/", 1)[-1])


def _traceparent(scope: Scope) -> str | None:
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), None)


def _route(scope: Scope) -> str:
    return getattr(scope.get("route"), "path", UNMATCHED)


def metrics_route(telemetry: Telemetry) -> Route:
    """``GET /metrics``: the process's metrics for a Prometheus scrape (no API key, like /healthz)."""

    async def metrics(_: Request) -> Response:
        # Reading the gauges may ask Redis, which blocks.
        text = await run_in_threadpool(telemetry.prometheus_text)
        return Response(text, media_type=prometheus.CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])
