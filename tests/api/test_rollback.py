"""POST /v1/models/rollback: operator keys only, a command published to rollback-requests, and the
rollback function that re-points production once per request."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient

from api.app import create_predict_app
from api.auth import ApiKeys
from api.wiring import backend_of
from svmflow import operations, topology
from svmflow.adapters.secrets import EnvSecrets
from svmflow.contracts import RollbackRequest
from svmflow.handlers import rollback
from svmflow.messaging import EventContext
from tests.api.conftest import AUTH, PREDICT_URL, System

OPERATOR = {"X-API-Key": "op-key"}


@pytest.fixture
def operator(system: System) -> Iterator[TestClient]:
    """The predict API over the same system, with a plain key and an operator key."""
    app = create_predict_app(backend_of(system.container), predict_url=PREDICT_URL)
    app.state.service.api_keys = ApiKeys(
        EnvSecrets({"SVMFLOW_SECRET_API_KEYS": "dev-local-key,operator:op-key"})
    )
    with TestClient(app) as client:
        yield client


@pytest.fixture
def two_versions(system: System) -> Iterator[tuple[str, str]]:
    """The version in production and another stored one; production is restored afterwards."""
    operations.train(system.container)
    system.drain()
    current = system.container.registry.pointer()[0]
    assert current is not None
    versions = [v.version for v in system.container.read_model.model_versions(50)]
    other = next(v for v in versions if v != current.version)
    yield current.version, other
    if system.container.registry.pointer()[0].version != current.version:  # type: ignore[union-attr]
        operations.rollback(system.container, current.version)
        system.drain()


def test_a_plain_key_is_refused_with_403_and_nothing_is_published(
    system: System, operator: TestClient
) -> None:
    before = system.spy.count(topology.ROLLBACK_REQUESTS)
    answer = operator.post("/v1/models/rollback", json={}, headers=AUTH)
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/problem+json"
    assert "operator role" in answer.json()["detail"]
    assert system.spy.count(topology.ROLLBACK_REQUESTS) == before


def test_without_a_key_it_is_401(operator: TestClient) -> None:
    assert operator.post("/v1/models/rollback", json={}).status_code == 401


def test_an_unknown_version_is_404_naming_the_field(operator: TestClient) -> None:
    answer = operator.post("/v1/models/rollback", json={"to_version": "never-trained"}, headers=OPERATOR)
    assert answer.status_code == 404
    assert answer.json()["field"] == "to_version"


def test_the_version_in_production_is_409(system: System, operator: TestClient) -> None:
    current = system.container.read_model.current_model()
    assert current is not None
    answer = operator.post("/v1/models/rollback", json={"to_version": current.version}, headers=OPERATOR)
    assert answer.status_code == 409
    assert "already in production" in answer.json()["detail"]


def test_unknown_fields_and_non_json_bodies_are_refused(operator: TestClient) -> None:
    answer = operator.post("/v1/models/rollback", json={"version": "x"}, headers=OPERATOR)
    assert answer.status_code == 422
    assert answer.json()["field"] == "version"
    answer = operator.post(
        "/v1/models/rollback", content=b"{", headers={**OPERATOR, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400


def test_an_operator_rollback_is_published_and_the_function_re_points_production(
    system: System, operator: TestClient, two_versions: tuple[str, str]
) -> None:
    current, other = two_versions
    before = system.spy.count(topology.ROLLBACK_REQUESTS)
    answer = operator.post("/v1/models/rollback", json={"to_version": other}, headers=OPERATOR)
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted["to_version"] == other
    assert system.spy.count(topology.ROLLBACK_REQUESTS) == before + 1
    system.drain()
    assert system.container.registry.pointer()[0].version == other  # type: ignore[union-attr]
    model = operator.get("/v1/models/current", headers=AUTH).json()
    assert (model["version"], model["decision"]) == (other, "rolled_back")
    jobs = operator.get("/v1/jobs", headers=AUTH).json()["items"]
    job = next(j for j in jobs if j["job_id"] == accepted["job_id"])
    assert job["decision"] == "rolled_back"
    assert job["previous_version"] == current


def _request(to_version: str) -> RollbackRequest:
    return RollbackRequest(
        request_id=uuid.uuid4().hex,
        to_version=to_version,
        requested_by="test",
        requested_at=datetime.now(UTC),
    )


def test_a_redelivered_request_rolls_back_once(system: System, two_versions: tuple[str, str]) -> None:
    current, other = two_versions
    request = _request(other)
    context = EventContext(event_id="e-1", attributes={})
    container = system.container
    first = rollback.handle(request, context, registry=container.registry, publisher=container.publisher)
    again = rollback.handle(request, context, registry=container.registry, publisher=container.publisher)
    assert first == again
    pointer = container.registry.pointer()[0]
    assert pointer is not None
    assert pointer.version == other
    assert pointer.history[-1] == current  # not walked back a second time


def test_a_rollback_that_cannot_happen_is_recorded_as_failed(system: System) -> None:
    container = system.container
    serving = container.registry.pointer()[0]
    assert serving is not None
    event = rollback.handle(
        _request("no-such-version"),
        EventContext(event_id="e-2", attributes={}),
        registry=container.registry,
        publisher=container.publisher,
    )
    assert event.decision == "failed"
    assert "rollback refused" in event.reason
    assert container.registry.pointer()[0].version == serving.version  # type: ignore[union-attr]
