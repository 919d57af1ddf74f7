"""The console in a real headless Chromium (Debian's `chromium`, driven by Playwright) against both APIs
served by uvicorn on free loopback ports over the embedded runtime: an EmbeddedBus with every function
subscribed, fakeredis, SQLite and a local bucket in tmp, and a promoted model.

`make browser` installs Chromium when /usr/bin/chromium is missing; Playwright's own browser download is
not used.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import msgspec
import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect, sync_playwright

from api.app import create_ingest_app, create_predict_app
from api.models import ModelDrift
from api.wiring import backend_of
from devstack.processes import free_port
from svmflow import operations
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.domain.drift_windows import FeatureFigures, empty_view
from svmflow.runtime.embedded_bus import EmbeddedBus
from tests.http_servers import running

CHROMIUM = Path("/usr/bin/chromium")
USER_KEY = "console-user-key"
OPERATOR_KEY = "console-operator-key"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"
# Corrections needed to start a retraining here (50 by default): a handful, so a test can watch one.
RETRAIN_AFTER = 4
# Two shared cores render a 2 MB Swagger UI bundle slowly.
expect.set_options(timeout=20_000)


def loopback_config(app: Any, port: int) -> uvicorn.Config:
    return uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")


@dataclass
class Stack:
    container: Container
    bus: EmbeddedBus
    ingest_url: str
    predict_url: str

    @property
    def console_url(self) -> str:
        return f"{self.predict_url}/console/"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ingest_port, predict_port = free_port(), free_port()
    ingest_url, predict_url = f"http://127.0.0.1:{ingest_port}", f"http://127.0.0.1:{predict_port}"
    settings = Settings(
        state_dir=tmp_path_factory.mktemp("console-system"),
        model_refresh_seconds=0.0,
        retrain_min_new_labels=RETRAIN_AFTER,
        ingest_url=ingest_url,
        predict_url=predict_url,
    )
    bus = EmbeddedBus(settings.bus_path, max_attempts=2, min_backoff=0.05)
    container = Container(
        settings,
        bus=bus,
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        secrets=EnvSecrets({"SVMFLOW_SECRET_API_KEYS": f"{USER_KEY},operator:{OPERATOR_KEY}"}),
    )
    container.subscribe_all(bus)
    bus.start(2)
    operations.seed(container)
    assert operations.train(container).decision == "promoted"
    bus.drain(timeout=60)
    with (
        running(loopback_config(create_ingest_app(backend_of(container)), ingest_port)),
        running(loopback_config(create_predict_app(backend_of(container)), predict_port)),
    ):
        yield Stack(container, bus, ingest_url, predict_url)
    bus.stop()


# Per module: Playwright's sync API keeps an event loop running in the main thread while it is open,
# which later tests (asyncio.run) and a second Playwright must not find.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert CHROMIUM.exists(), "Chromium is missing: `make browser` installs Debian's chromium package"
    with sync_playwright() as playwright:
        # Root in a container has no user namespace for Chromium's sandbox.
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page and what it did: every request's URL and every console error (a CSP violation included)."""

    page: Page
    requests: list[str]
    errors: list[str]


@pytest.fixture
def watched(browser: Browser, stack: Stack) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    page = context.new_page()
    page.set_default_timeout(20_000)
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield Watched(page, requests, errors)
    context.close()


def sign_in(page: Page, stack: Stack, key: str) -> None:
    page.goto(stack.console_url)
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Sign out").wait_for()


def shot(page: Page, name: str) -> None:
    """The README's screenshots: written only when SVMFLOW_SCREENSHOTS=1, so that a test run leaves the
    committed images alone."""
    if os.environ.get("SVMFLOW_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def drift_report(version: str, drifted: bool = True) -> dict[str, Any]:
    """A GET /v1/models/{version}/drift answer after three closed windows, built from the API's own
    response struct (``ModelDrift``) so that it has every field the real route serves. Entropy has no
    p-value, which the struct allows and the console must show as such."""

    def feature(name: str, psi: float, ks: float, p_value: float | None, flagged: bool) -> FeatureFigures:
        p = 1.0 if p_value is None else p_value
        return FeatureFigures(
            name=name,
            psi=psi,
            ks=ks,
            p_value=p_value,
            drifted=flagged,
            mean_shift_sd=0.0,
            ks_p_value=p,
            mean_p_value=p,
        )

    view = ModelDrift(
        model_version=version,
        window_size=500,
        windows_closed=3,
        records_in_window=212,
        drifted=drifted,
        updated_at=datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC),
        features=[
            feature("variance", 0.412, 0.231, 0.00001, drifted),
            feature("skewness", 0.034, 0.052, 0.41, False),
            feature("curtosis", 0.118, 0.087, 0.021, False),
            feature("entropy", 0.006, 0.031, None, False),
        ],
        drifted_features=["variance"] if drifted else [],
        window_closed_at=datetime(2026, 3, 1, 11, 58, tzinfo=UTC),
        alpha=0.0001,
        reference_rows=1097,
        revision=7,
    )
    return msgspec.to_builtins(view)  # type: ignore[no-any-return]


def no_drift_yet(version: str) -> dict[str, Any]:
    """What GET /v1/models/{version}/drift answers for a known version before its first window closes:
    200 with the records counted so far and no figures (not a 404)."""
    view = empty_view(version, 500)
    view.records_in_window = 37
    view.updated_at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return msgspec.to_builtins(ModelDrift(**msgspec.structs.asdict(view)))  # type: ignore[no-any-return]


def serve_drift(page: Page, answer: dict[str, Any] | None) -> list[str]:
    """Answer GET /v1/models/{version}/drift in the page with ``answer`` (None: the route's 404 for a
    version it does not know); every other request goes to the real APIs. The URLs asked, in order."""
    asked: list[str] = []

    def fulfil(route: Any) -> None:
        asked.append(route.request.url)
        if answer is None:
            problem = {"title": "Not found", "status": 404, "detail": "no model version", "field": "version"}
            route.fulfill(status=404, content_type="application/problem+json", body=json.dumps(problem))
        else:
            route.fulfill(status=200, content_type="application/json", body=json.dumps(answer))

    page.route(re.compile(r"/v1/models/[^/]+/drift$"), fulfil)
    return asked
