"""The console's and the reference's routes, the headers that guard them, CORS on the ingest API for the
console's origin, and API-key roles (GET /v1/me)."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.auth import ApiKeys, ForbiddenError, parse_entry
from api.errors import UnauthorizedError
from api.wiring import backend_of
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.config import Settings
from tests.api.conftest import AUTH, PREDICT_URL, System


def _request(key: str | None) -> Request:
    headers = [] if key is None else [(b"x-api-key", key.encode())]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers})


def _keys(raw: str) -> ApiKeys:
    return ApiKeys(EnvSecrets({"SVMFLOW_SECRET_API_KEYS": raw}))


def test_an_operator_entry_gives_the_operator_role_and_plain_entries_stay_plain_keys() -> None:
    keys = _keys("plain-key, operator:op-key\nuser:user-key")
    assert keys.caller(_request("plain-key")).role == "user"
    assert keys.caller(_request("op-key")).role == "operator"
    assert keys.caller(_request("user-key")).role == "user"
    # The role prefix is not part of the key.
    with pytest.raises(UnauthorizedError):
        keys.caller(_request("operator:op-key"))


def test_an_entry_whose_prefix_is_not_a_role_is_a_key_as_written() -> None:
    assert parse_entry("team:secret") == (b"team:secret", "user")
    assert parse_entry("operator:") == (b"operator:", "user")
    keys = _keys("team:secret")
    assert keys.caller(_request("team:secret")).role == "user"


def test_operator_only_actions_refuse_a_plain_key_with_403() -> None:
    caller = _keys("plain").caller(_request("plain"))
    with pytest.raises(ForbiddenError) as refused:
        caller.require_operator("rolling back the model")
    assert refused.value.status == 403
    assert "operator role" in refused.value.detail


def test_me_answers_the_role_of_the_key_and_401_without_one(system: System) -> None:
    assert system.predict.get("/v1/me", headers=AUTH).json() == {"role": "user", "operator": False}
    refused = system.predict.get("/v1/me")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


def test_me_is_in_the_openapi_document(system: System) -> None:
    document = system.predict.get("/openapi.json").json()
    assert "/v1/me" in document["paths"]
    assert document["components"]["schemas"]["Me"]["required"] == ["role", "operator"]


def test_the_console_page_is_served_with_a_strict_content_security_policy(system: System) -> None:
    page = system.predict.get("/console/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "connect-src 'self' http://127.0.0.1:8080;" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<script" in page.text
    assert "inline" not in page.text
    assert system.predict.get("/console", follow_redirects=False).headers["location"] == "/console/"


def test_every_asset_the_pages_name_is_served_by_the_project(system: System) -> None:
    import re

    for page in ("/console/", "/docs"):
        html = system.predict.get(page).text
        assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
        assert assets, page
        for asset in assets:
            if asset == "/docs":
                continue
            assert system.predict.get(asset).status_code == 200, asset
        assert "http://" not in html
        assert "https://" not in html


def test_the_console_is_told_where_the_ingest_api_is(system: System) -> None:
    assert system.predict.get("/console/config.json").json() == {"ingest_url": "http://127.0.0.1:8080"}


def test_json_answers_do_not_carry_the_page_policy(system: System) -> None:
    assert "content-security-policy" not in system.predict.get("/healthz").headers


def _ingest(**settings: object) -> TestClient:
    container = Container(Settings(**settings), secrets=EnvSecrets({}))  # type: ignore[arg-type]
    return TestClient(create_ingest_app(backend_of(container), predict_url=PREDICT_URL))


PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "x-api-key,content-type,idempotency-key",
}


def test_the_ingest_api_allows_the_console_origin_only() -> None:
    client = _ingest()
    allowed = client.options("/v1/batches", headers={"Origin": PREDICT_URL, **PREFLIGHT})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == PREDICT_URL
    assert "idempotency-key" in allowed.headers["access-control-allow-headers"].lower()
    refused = client.options("/v1/batches", headers={"Origin": "http://elsewhere.test", **PREFLIGHT})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers


def test_more_console_origins_can_be_allowed() -> None:
    client = _ingest(console_origins="https://console.example.test, http://localhost:3000")
    for origin in ("https://console.example.test", "http://localhost:3000", PREDICT_URL):
        answer = client.options("/v1/batches", headers={"Origin": origin, **PREFLIGHT})
        assert answer.headers.get("access-control-allow-origin") == origin


def test_the_predict_app_names_a_configured_ingest_url_in_its_policy() -> None:
    container = Container(Settings(ingest_url="https://ingest.example.test"), secrets=EnvSecrets({}))
    client = TestClient(create_predict_app(backend_of(container), predict_url=PREDICT_URL))
    assert (
        "connect-src 'self' https://ingest.example.test;"
        in client.get("/docs").headers["content-security-policy"]
    )
