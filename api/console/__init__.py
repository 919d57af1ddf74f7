"""The web console (``/console``) and the API reference (``/docs``), served by the predict API.

The console reads through the predict API (same origin) and writes batches through the ingest API, which
allows the console's origin by CORS. Every asset is served from this package (Swagger UI's vendored from
the npm registry, see ``api.console.assets``): the pages make no third-party request, and a strict
Content-Security-Policy holds them to the two API origins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.console.assets import SERVED as SWAGGER_UI

STATIC = Path(__file__).resolve().parent / "static"
# The paths whose answers are pages or page assets: they get the Content-Security-Policy.
PAGE_PREFIXES = ("/console", "/docs")
SWAGGER_LOGO_STYLE = "sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w="


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, as a browser names an origin."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        raise ValueError(f"{url!r} is not an absolute http(s) URL")
    return f"{parts.scheme}://{parts.netloc}".lower()


def content_security_policy(connect_origins: list[str]) -> str:
    connect = " ".join(["'self'", *connect_origins])
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            # Swagger UI's logo is an SVG with one fixed <style> block: allowed by its hash, nothing else.
            f"style-src 'self' '{SWAGGER_LOGO_STYLE}'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "manifest-src 'self'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


class PageHeaders:
    """Security headers on the console's and the reference's answers (pages, scripts, styles)."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.headers = [
            (b"content-security-policy", policy.encode()),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"x-frame-options", b"DENY"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(PAGE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.headers]
            await send(message)

        await self.app(scope, receive, with_headers)


Endpoint = Callable[[Request], Awaitable[Response]]


def _config(ingest_url: str) -> Endpoint:
    body = msgspec.json.encode({"ingest_url": ingest_url.rstrip("/")})

    async def serve(_: Request) -> Response:
        return Response(body, media_type="application/json", headers={"Cache-Control": "no-store"})

    return serve


def _page(name: str) -> Endpoint:
    async def serve(_: Request) -> Response:
        return FileResponse(STATIC / name, headers={"Cache-Control": "no-cache"})

    return serve


async def _to_console(_: Request) -> Response:
    return RedirectResponse("/console/", status_code=308)


def routes(ingest_url: str) -> list[BaseRoute]:
    """``/console/`` (a single page: every view is a fragment of it), its assets, ``/docs`` and Swagger
    UI's assets. ``/console/config.json`` tells the page where the ingest API is."""
    return [
        Route("/console", _to_console, methods=["GET"]),
        Route("/console/", _page("index.html"), methods=["GET"]),
        Route("/console/config.json", _config(ingest_url), methods=["GET"]),
        Mount("/console/static", StaticFiles(directory=STATIC), name="console-static"),
        Route("/docs", _page("docs.html"), methods=["GET"]),
        Mount("/docs/swagger-ui", StaticFiles(directory=SWAGGER_UI), name="swagger-ui"),
    ]
