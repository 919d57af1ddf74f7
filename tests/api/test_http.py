"""What both APIs share: API keys, health and readiness, gzip answers, problem+json, OpenAPI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import fakeredis
import pytest
import redis
import schemathesis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.wiring import backend_of
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from tests.api.conftest import AUTH, KEY, PREDICT_URL, System, batch, make_settings

PROTECTED = [
    ("ingest", "POST", "/v1/batches"),
    ("predict", "GET", "/v1/batches"),
    ("predict", "GET", "/v1/batches/never-issued-0"),
    ("predict", "PATCH", "/v1/batches/never-issued-0"),
    ("predict", "GET", "/v1/models/current"),
    ("predict", "GET", "/v1/models"),
    ("predict", "GET", "/v1/jobs"),
]


def _client(system: System, api: str) -> TestClient:
    return system.ingest if api == "ingest" else system.predict


class TestAuth:
    @pytest.mark.parametrize(("api", "method", "path"), PROTECTED)
    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"X-API-Key": "wrong"},
            {"X-API-Key": ""},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {KEY}"},
            {"Authorization": "Bearer"},
        ],
        ids=["none", "wrong", "empty", "wrong-bearer", "basic", "bearer-without-token"],
    )
    def test_refused_without_a_valid_key(
        self, system: System, api: str, method: str, path: str, headers: dict[str, str]
    ) -> None:
        before = len(system.spy.topics)
        response = _client(system, api).request(method, path, json=batch(1), headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert "WWW-Authenticate" in response.headers
        assert response.json()["field"] == "X-API-Key"
        assert len(system.spy.topics) == before

    def test_401_comes_before_reading_the_body(self, system: System) -> None:
        response = system.ingest.post("/v1/batches", content=b"{", headers={"Content-Type": "text/plain"})
        assert response.status_code == 401

    def test_bearer_and_header_keys_both_work(self, system: System) -> None:
        bearer = system.predict.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        header = system.predict.get("/v1/models", headers={"X-API-Key": KEY})
        assert bearer.status_code == header.status_code == 200

    def test_keys_come_from_the_secret_and_several_can_be_valid(self, tmp_path: Path) -> None:
        secrets = EnvSecrets({"SVMFLOW_SECRET_API_KEYS": "new-key, old-key"})
        container = Container(
            make_settings(tmp_path), redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()), secrets=secrets
        )
        with TestClient(create_predict_app(backend_of(container))) as client:
            assert client.get("/v1/models", headers={"X-API-Key": "new-key"}).status_code == 200
            assert client.get("/v1/models", headers={"X-API-Key": "old-key"}).status_code == 200
            assert client.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 401

    @pytest.mark.parametrize("path", ["/healthz", "/readyz", "/openapi.json"])
    def test_health_and_the_document_need_no_key(self, system: System, path: str) -> None:
        assert system.ingest.get(path).status_code == 200
        assert system.predict.get(path).status_code == 200


class TestHealth:
    def test_healthz(self, system: System) -> None:
        assert system.predict.get("/healthz").json() == {"status": "ok", "checks": {}}

    def test_readyz_checks_redis_and_pubsub(self, system: System) -> None:
        for client in (system.ingest, system.predict):
            response = client.get("/readyz")
            assert response.status_code == 200
            assert response.json()["checks"] == {"redis": "ok", "pubsub": "ok"}

    def test_readyz_is_503_when_redis_is_unreachable(self, tmp_path: Path, unused_port: int) -> None:
        dead = _dead_redis(unused_port)
        container = Container(make_settings(tmp_path), redis=dead, secrets=EnvSecrets({}))
        with TestClient(create_predict_app(backend_of(container))) as client:
            response = client.get("/readyz")
            alive = client.get("/healthz")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert "field" not in body
        assert body["checks"]["pubsub"] == "ok"
        assert body["checks"]["redis"].startswith("unreachable")
        assert alive.status_code == 200

    def test_requests_are_503_not_500_while_redis_is_down(self, tmp_path: Path, unused_port: int) -> None:
        dead = _dead_redis(unused_port)
        container = Container(make_settings(tmp_path), redis=dead, secrets=EnvSecrets({}))
        with (
            TestClient(create_predict_app(backend_of(container))) as predict,
            TestClient(create_ingest_app(backend_of(container))) as ingest,
        ):
            answers = [
                predict.get("/v1/models", headers=AUTH),
                predict.get("/v1/batches", headers=AUTH),
                ingest.post("/v1/batches", json=batch(1), headers=AUTH),
            ]
        for response in answers:
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "2"

    def test_readyz_is_503_when_pubsub_is_unreachable(self, tmp_path: Path) -> None:
        class Down:
            def publish(self, *_: object) -> None:
                raise AssertionError("not called")

            def ready(self) -> None:
                raise ConnectionError("no route")

        container = Container(
            make_settings(tmp_path),
            redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
            publisher=Down(),
            secrets=EnvSecrets({}),
        )
        with TestClient(create_ingest_app(backend_of(container))) as client:
            response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {"redis": "ok", "pubsub": "unreachable: ConnectionError"}


def _dead_redis(port: int) -> redis.Redis:
    """A client of a port nobody listens on, failing at once instead of retrying with backoff."""
    return redis.Redis(port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TestGzip:
    def test_answers_are_gzipped_when_the_client_accepts_it(self, system: System) -> None:
        batch_id = system.submit(40)["batch_id"]
        system.drain()
        path = f"/v1/batches/{batch_id}"
        packed = system.predict.get(path, headers={**AUTH, "Accept-Encoding": "gzip"})
        plain = system.predict.get(path, headers={**AUTH, "Accept-Encoding": "identity"})
        assert packed.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in plain.headers
        assert int(packed.headers["content-length"]) < int(plain.headers["content-length"])
        assert packed.json() == plain.json()  # the client inflated it

    def test_the_raw_gzip_stream_is_the_json(self, system: System) -> None:
        with system.predict.stream("GET", "/openapi.json", headers={"Accept-Encoding": "gzip"}) as response:
            raw = b"".join(response.iter_raw())
        assert response.headers["content-encoding"] == "gzip"
        assert json.loads(gzip.decompress(raw))["openapi"] == "3.1.0"


class TestProblems:
    def test_unknown_route_is_problem_json(self, system: System) -> None:
        response = system.predict.get("/v2/nothing", headers=AUTH)
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "no such resource: /v2/nothing"

    def test_wrong_method_is_405_problem_json(self, system: System) -> None:
        response = system.ingest.get("/v1/batches", headers=AUTH)
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert "POST" in response.headers["allow"]

    def test_a_problem_has_type_title_status_detail(self, system: System) -> None:
        problem = system.ingest.post("/v1/batches", json={"subjects": []}, headers=AUTH).json()
        assert set(problem) >= {"type", "title", "status", "detail"}
        assert problem["type"].startswith("urn:svmflow:problem:")


class TestOpenApi:
    @pytest.mark.parametrize("api", ["ingest", "predict"])
    def test_the_document_is_valid_openapi(self, system: System, api: str) -> None:
        document = _client(system, api).get("/openapi.json").json()
        assert document["openapi"] == "3.1.0"
        schema = schemathesis.openapi.from_dict(document)
        operations = [op.ok() for op in schema.get_all_operations()]
        assert operations

    def test_each_api_documents_its_own_paths(self, system: System) -> None:
        ingest = system.ingest.get("/openapi.json").json()["paths"]
        predict = system.predict.get("/openapi.json").json()["paths"]
        assert set(ingest) == {"/v1/batches", "/v1/jobs/bulk", "/healthz", "/readyz"}
        assert list(ingest["/v1/batches"]) == ["post"]
        assert {
            "/v1/batches",
            "/v1/batches/{batch_id}",
            "/v1/models/current",
            "/v1/models",
            "/v1/jobs",
            "/v1/jobs/bulk/{job_id}",
        } <= set(predict)
        assert list(predict["/v1/batches"]) == ["get"]

    def test_every_body_documents_its_fields(self, system: System) -> None:
        """No response is an opaque "object": each object schema names its properties (or, for a
        mapping such as the health checks, the type of its values)."""
        schemas = system.predict.get("/openapi.json").json()["components"]["schemas"]

        def opaque(node: object, where: str) -> list[str]:
            if isinstance(node, list):
                return [o for i, item in enumerate(node) for o in opaque(item, f"{where}[{i}]")]
            if not isinstance(node, dict):
                return []
            found = []
            if (
                node.get("type") == "object"
                and "properties" not in node
                and "additionalProperties" not in node
            ):
                found.append(where)
            return found + [o for key, value in node.items() for o in opaque(value, f"{where}.{key}")]

        assert opaque(schemas, "schemas") == []
        model = schemas["ModelVersion"]["properties"]
        assert model["evaluation"]["anyOf"][0] == {"$ref": "#/components/schemas/Evaluation"}
        assert schemas["ModelListing"]["properties"]["items"]["items"] == {
            "$ref": "#/components/schemas/ModelVersion"
        }
        assert schemas["JobListing"]["properties"]["items"]["items"] == {"$ref": "#/components/schemas/Job"}
        assert {"version", "since", "evaluation", "n_features"} <= set(schemas["CurrentModel"]["properties"])
        assert {"quarantined_rows", "as_of", "job_id"} <= set(schemas["TrainingRows"]["properties"])

    def test_the_location_points_at_the_predict_api(self, system: System) -> None:
        accepted = system.ingest.post("/v1/batches", json=batch(1), headers=AUTH)
        assert accepted.headers["location"].startswith(PREDICT_URL + "/v1/batches/")
