"""POST /v1/batches: what is accepted, what is refused (with the field named and nothing published)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from starlette.testclient import TestClient

from api.app import create_ingest_app
from api.ingest import MAX_BODY_BYTES
from api.wiring import backend_of
from svmflow import topology
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.contracts import MAX_ROWS, MAX_SUBJECT_LENGTH
from svmflow.views import CurrentModelView
from tests.api.conftest import AUTH, GENUINE, PREDICT_URL, System, batch, make_settings

REQUESTS = topology.PREDICTION_REQUESTS


def test_accepts_a_batch_after_pubsub_accepted_it(system: System) -> None:
    before = system.spy.count(REQUESTS)
    body = batch(3)
    response = system.ingest.post("/v1/batches", json=body, headers=AUTH)

    assert response.status_code == 202
    answer = response.json()
    assert answer["record_count"] == 3
    assert answer["status"] == "pending"
    assert response.headers["location"] == f"{PREDICT_URL}/v1/batches/{answer['batch_id']}"
    assert answer["location"] == response.headers["location"]
    assert system.spy.count(REQUESTS) == before + 1
    result = system.done(answer["batch_id"])
    assert [r["subject"] for r in result["results"]] == body["subjects"]


def test_accepts_a_gzip_body(system: System) -> None:
    body = batch(4)
    response = system.ingest.post(
        "/v1/batches",
        content=gzip.compress(json.dumps(body).encode()),
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["record_count"] == 4
    assert len(system.done(response.json()["batch_id"])["results"]) == 4


def test_accepts_integers_as_features_and_a_charset_parameter(system: System) -> None:
    body = {"subjects": ["int-a"], "features": [[1, 2, -3, 0]]}
    response = system.ingest.post(
        "/v1/batches",
        content=json.dumps(body),
        headers={**AUTH, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 202, response.text


def _raw(rows: str, subjects: str = '["a"]') -> bytes:
    return f'{{"subjects": {subjects}, "features": {rows}}}'.encode()


JSON = {"Content-Type": "application/json"}
TOO_MANY = MAX_ROWS + 1
# (name, body bytes, extra headers, status, field)
REFUSED: list[tuple[str, bytes, dict[str, str], int, str | None]] = [
    ("not JSON", b"subjects=a&features=1", JSON, 400, None),
    ("truncated JSON", b'{"subjects": ["a"], "features": [[1.0,', JSON, 400, None),
    ("empty body", b"", JSON, 400, None),
    ("JSON null", b"null", JSON, 422, None),
    ("JSON array", b"[]", JSON, 422, None),
    (
        "wrong content type",
        json.dumps(batch(1)).encode(),
        {"Content-Type": "text/plain"},
        415,
        "Content-Type",
    ),
    (
        "form content type",
        json.dumps(batch(1)).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
        415,
        "Content-Type",
    ),
    (
        "unknown encoding",
        json.dumps(batch(1)).encode(),
        {**JSON, "Content-Encoding": "br"},
        415,
        "Content-Encoding",
    ),
    (
        "gzip header on a plain body",
        json.dumps(batch(1)).encode(),
        {**JSON, "Content-Encoding": "gzip"},
        400,
        "Content-Encoding",
    ),
    (
        "truncated gzip",
        gzip.compress(json.dumps(batch(1)).encode())[:-12],
        {**JSON, "Content-Encoding": "gzip"},
        400,
        "Content-Encoding",
    ),
    ("empty batch", b'{"subjects": [], "features": []}', JSON, 422, "subjects"),
    ("no subjects field", b'{"features": [[1.0, 2.0, 3.0, 4.0]]}', JSON, 422, None),
    ("unknown field", b'{"subjects": ["a"], "features": [[1,2,3,4]], "labels": [1]}', JSON, 422, "labels"),
    ("more subjects than rows", _raw("[[1,2,3,4]]", '["a", "b"]'), JSON, 422, "features"),
    ("more rows than subjects", _raw("[[1,2,3,4], [1,2,3,4]]"), JSON, 422, "features"),
    ("too few features", _raw("[[1,2,3]]"), JSON, 422, "features[0]"),
    ("too many features", _raw("[[1,2,3,4,5]]"), JSON, 422, "features[0]"),
    ("ragged rows", _raw("[[1,2,3,4], [1,2,3]]", '["a", "b"]'), JSON, 422, "features[1]"),
    ("empty row", _raw("[[]]"), JSON, 422, "features[0]"),
    ("NaN token", _raw("[[1, NaN, 3, 4]]"), JSON, 400, None),
    ("Infinity token", _raw("[[1, 2, Infinity, 4]]"), JSON, 400, None),
    ("number that overflows to infinity", _raw("[[1, 2, 3, 1e999]]"), JSON, 422, "features[0][3]"),
    ("negative infinity", _raw("[[-1e400, 2, 3, 4]]"), JSON, 422, "features[0][0]"),
    ("finite but beyond any measurement", _raw("[[1, 2, 3, -1.7e308]]"), JSON, 422, "features[0][3]"),
    ("string feature", _raw('[[1, "2", 3, 4]]'), JSON, 422, "features[0][1]"),
    ("boolean feature", _raw("[[1, 2, true, 4]]"), JSON, 422, "features[0][2]"),
    ("null feature", _raw("[[1, 2, 3, null]]"), JSON, 422, "features[0][3]"),
    ("row not a list", _raw("[1]"), JSON, 422, "features[0]"),
    ("numeric subject", _raw("[[1,2,3,4]]", "[7]"), JSON, 422, "subjects[0]"),
    ("empty subject", _raw("[[1,2,3,4]]", '[""]'), JSON, 422, "subjects[0]"),
    (
        "over-long subject",
        _raw("[[1,2,3,4]]", json.dumps(["x" * (MAX_SUBJECT_LENGTH + 1)])),
        JSON,
        422,
        "subjects[0]",
    ),
    ("duplicate subjects", _raw("[[1,2,3,4], [1,2,3,4]]", '["a", "a"]'), JSON, 422, "subjects[1]"),
    (
        "over the row limit",
        json.dumps(
            {"subjects": [f"s{i}" for i in range(TOO_MANY)], "features": [[1, 2, 3, 4]] * TOO_MANY}
        ).encode(),
        JSON,
        422,
        "subjects",
    ),
    (
        "bad Idempotency-Key",
        json.dumps(batch(1)).encode(),
        {**JSON, "Idempotency-Key": "has space"},
        400,
        "Idempotency-Key",
    ),
    (
        "over-long Idempotency-Key",
        json.dumps(batch(1)).encode(),
        {**JSON, "Idempotency-Key": "k" * 256},
        400,
        "Idempotency-Key",
    ),
]


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED]
)
def test_refuses_bad_input_naming_the_field_and_publishes_nothing(
    system: System, body: bytes, headers: dict[str, str], status: int, field: str | None
) -> None:
    before = system.spy.count(REQUESTS)
    response = system.ingest.post("/v1/batches", content=body, headers={**AUTH, **headers})

    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert problem["detail"]
    assert problem.get("field") == field
    assert system.spy.count(REQUESTS) == before


def test_missing_content_type_is_refused(system: System) -> None:
    response = system.ingest.post(
        "/v1/batches", content=json.dumps(batch(1)), headers={**AUTH, "Content-Type": ""}
    )
    assert response.status_code == 415
    assert response.json()["field"] == "Content-Type"


def test_over_the_byte_limit_is_refused_from_content_length(system: System) -> None:
    before = system.spy.count(REQUESTS)
    padding = " " * (MAX_BODY_BYTES + 1 - len(json.dumps(batch(1))))
    body = json.dumps(batch(1)) + padding
    response = system.ingest.post("/v1/batches", content=body, headers={**AUTH, **JSON})
    assert response.status_code == 413
    assert str(MAX_BODY_BYTES) in response.json()["detail"]
    assert system.spy.count(REQUESTS) == before


def test_over_the_byte_limit_is_refused_while_streaming(system: System) -> None:
    """No Content-Length (chunked): the limit is enforced on what arrives."""
    before = system.spy.count(REQUESTS)
    chunk = b" " * 65536

    def chunks():  # type: ignore[no-untyped-def]
        yield json.dumps(batch(1)).encode()
        for _ in range(MAX_BODY_BYTES // len(chunk) + 2):
            yield chunk

    response = system.ingest.post("/v1/batches", content=chunks(), headers={**AUTH, **JSON})
    assert response.status_code == 413
    assert system.spy.count(REQUESTS) == before


def test_a_gzip_body_that_inflates_past_the_limit_is_refused(system: System) -> None:
    before = system.spy.count(REQUESTS)
    # About 40 KiB on the wire, 40 MiB inflated.
    bomb = gzip.compress(b'{"subjects": ["a"], "features": [[1,2,3,4]]}' + b" " * (40 * 1024 * 1024))
    assert len(bomb) < 100_000
    response = system.ingest.post(
        "/v1/batches", content=bomb, headers={**AUTH, **JSON, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "inflation" in response.json()["detail"]
    assert system.spy.count(REQUESTS) == before


def test_a_lower_configured_limit_applies_to_plain_and_gzip_bodies(system: System) -> None:
    app = create_ingest_app(backend_of(system.container), predict_url=PREDICT_URL, max_body_bytes=1000)
    body = json.dumps(batch(20)).encode()
    assert len(body) > 1000
    assert len(gzip.compress(body)) < 1000
    with TestClient(app) as client:
        plain = client.post("/v1/batches", content=body, headers={**AUTH, **JSON})
        packed = client.post(
            "/v1/batches", content=gzip.compress(body), headers={**AUTH, **JSON, "Content-Encoding": "gzip"}
        )
        small = client.post("/v1/batches", json=batch(2), headers=AUTH)
    assert plain.status_code == 413
    assert packed.status_code == 413
    assert small.status_code == 202


class TestIdempotency:
    def test_a_retry_answers_the_same_batch_without_a_second_prediction(self, system: System) -> None:
        body = batch(2)
        headers = {**AUTH, "Idempotency-Key": "order-42-" + body["subjects"][0]}
        first = system.ingest.post("/v1/batches", json=body, headers=headers)
        assert first.status_code == 202
        batch_id = first.json()["batch_id"]
        done = system.done(batch_id)

        before = system.spy.count(REQUESTS)
        retry = system.ingest.post("/v1/batches", json=body, headers=headers)
        assert retry.status_code == 202
        assert retry.json()["batch_id"] == batch_id
        assert retry.headers["location"] == first.headers["location"]
        assert system.spy.count(REQUESTS) == before  # answered from Redis, not published again
        system.drain()
        assert system.done(batch_id) == done  # the first prediction stands

    def test_a_retry_before_the_results_publishes_again_but_keeps_one_prediction(
        self, system: System
    ) -> None:
        body = batch(2)
        headers = {**AUTH, "Idempotency-Key": "early-" + body["subjects"][0]}
        ids = {
            system.ingest.post("/v1/batches", json=body, headers=headers).json()["batch_id"] for _ in range(3)
        }
        assert len(ids) == 1
        result = system.done(ids.pop())
        assert len(result["results"]) == 2

    def test_the_key_is_scoped_to_the_caller(self, tmp_path: Path, system: System) -> None:
        container = Container(
            system.container.settings,
            bus=system.bus,
            publisher=system.spy,
            redis=system.container.redis,
            secrets=EnvSecrets({"SVMFLOW_SECRET_API_KEYS": "key-one,key-two"}),
        )
        with TestClient(create_ingest_app(backend_of(container), predict_url=PREDICT_URL)) as client:
            body = batch(1)
            one = client.post(
                "/v1/batches", json=body, headers={"X-API-Key": "key-one", "Idempotency-Key": "k1"}
            )
            two = client.post(
                "/v1/batches", json=body, headers={"X-API-Key": "key-two", "Idempotency-Key": "k1"}
            )
        assert one.status_code == two.status_code == 202
        assert one.json()["batch_id"] != two.json()["batch_id"]

    def test_a_key_reused_for_a_different_batch_names_another_batch(self, system: System) -> None:
        """Without state to remember the first body, a reused key with new content must not share the
        first batch's id: one of the two would be silently lost."""
        headers = {**AUTH, "Idempotency-Key": "reused-" + batch(1)["subjects"][0]}
        first = system.ingest.post("/v1/batches", json=batch(2), headers=headers)
        changed = batch(2)
        changed["features"][0][0] += 1.0
        before = system.spy.count(REQUESTS)
        second = system.ingest.post("/v1/batches", json=changed, headers=headers)
        assert first.status_code == second.status_code == 202
        assert second.json()["batch_id"] != first.json()["batch_id"]
        assert system.spy.count(REQUESTS) == before + 1


class _FailingPublisher:
    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> Any:
        from concurrent.futures import Future

        future: Future[str] = Future()
        future.set_exception(TimeoutError("Pub/Sub did not answer"))
        return future


def _bare_container(tmp_path: Path, **provided: Any) -> Container:
    return Container(
        make_settings(tmp_path),
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        secrets=EnvSecrets({}),
        **provided,
    )


def test_no_model_in_production_is_503_and_publishes_nothing(tmp_path: Path) -> None:
    container = _bare_container(tmp_path)
    with TestClient(create_ingest_app(backend_of(container))) as client:
        response = client.post("/v1/batches", json=batch(1), headers=AUTH)
    assert response.status_code == 503
    assert response.headers["retry-after"]


def _current(version: str, *, n_features: int) -> CurrentModelView:
    return CurrentModelView(
        version=version, since="", decision="promoted", reason="", job_id="", n_features=n_features
    )


def test_a_publish_failure_is_503_never_202(tmp_path: Path) -> None:
    container = _bare_container(tmp_path, publisher=_FailingPublisher())
    container.read_model.put_current_model(_current("v1", n_features=4), datetime.now(UTC))
    with TestClient(create_ingest_app(backend_of(container))) as client:
        response = client.post("/v1/batches", json=batch(1), headers=AUTH)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry" in response.json()["detail"]


def test_width_follows_the_model_when_the_read_model_names_it(tmp_path: Path) -> None:
    container = _bare_container(tmp_path, publisher=_FailingPublisher())
    container.read_model.put_current_model(_current("v2", n_features=2), datetime.now(UTC))
    with TestClient(create_ingest_app(backend_of(container))) as client:
        response = client.post("/v1/batches", json={"subjects": ["a"], "features": [GENUINE]}, headers=AUTH)
    assert response.status_code == 422
    assert "expects 2" in response.json()["detail"]
