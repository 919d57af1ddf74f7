"""The APIs' side of ``svmflow.telemetry``: one ASGI middleware and ``GET /metrics``.

The middleware opens a server span per request (continuing the caller's ``traceparent``, so a client
that sends back the ``traceresponse`` of its ``POST /v1/batches`` on its polls sees the poll in the
batch's trace), counts the request and its latency per route and status, and notes each accepted
batch for the gauge of the oldest pending batch. It is installed only when telemetry is on.
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
        method: str = scope["method"]
        traceparent = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"traceparent"), None)
        status = 500  # unless the app answers
        location: bytes | None = None
        started = time.perf_counter()
        with self.telemetry.request_span(method, traceparent) as span:
            # W3C Trace Context level 2: the trace the request joined, for the client to carry on.
            traceresponse = (self.telemetry.current_traceparent() or "").encode("latin-1")

            async def send_traced(message: Message) -> None:
                nonlocal status, location
                if message["type"] == "http.response.start":
                    status = message["status"]
                    headers = list(message.get("headers", []))
                    location = next((v for k, v in headers if k == b"location"), None)
                    if traceresponse:
                        message = {**message, "headers": [*headers, (b"traceresponse", traceresponse)]}
                await send(message)

            try:
                await self.app(scope, receive, send_traced)
            finally:
                route = getattr(scope.get("route"), "path", UNMATCHED)
                span.update_name(f"{method} {route}")
                span.set_attributes(
                    {"http.request.method": method, "http.route": route, "http.response.status_code": status}
                )
                self.telemetry.record_request(self.api, method, route, status, time.perf_counter() - started)
                if status == 202 and method == "POST" and route == "/v1/batches" and location:
                    self.telemetry.pending.accepted(location.decode("latin-1").rsplit("/", 1)[-1])


def metrics_route(telemetry: Telemetry) -> Route:
    """``GET /metrics``: the process's metrics for a Prometheus scrape (no API key, like /healthz)."""

    async def metrics(_: Request) -> Response:
        # Reading the gauges may ask Redis, which blocks.
        text = await run_in_threadpool(telemetry.prometheus_text)
        return Response(text, media_type=prometheus.CONTENT_TYPE)

    return Route("/metrics", metrics, methods=["GET"])
