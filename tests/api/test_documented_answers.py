"""Each operation's answers in the OpenAPI documents are exactly the ones it can give: every documented
status is provoked here and served as documented (content type included), and no operation documents a
status this table cannot provoke. Schemathesis (test_properties.py) checks the other direction on
generated requests: nothing is served that the document does not list."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import msgspec
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.batch_ids import BatchIds
from api.bulk import MAX_BULK_BODY_BYTES
from api.errors import PROBLEM_JSON
from api.ingest import MAX_BODY_BYTES
from api.openapi import ingest_document, predict_document
from api.operator import MAX_ROLLBACK_BYTES
from api.predict import MAX_FEEDBACK_BYTES
from api.service import Service
from api.wiring import backend_of
from devstack.processes import free_port
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.read_model import DeadLetterView, ReadModel
from tests.api.conftest import AUTH, GENUINE, System, batch, make_settings
from tests.api.edge_server import Answer, parse, read_all, send_raw, send_slowly, serve

OPERATOR = {"X-API-Key": "op-key"}
# Every app here but the session's own also takes an operator key, so the operator-only rollback can be
# provoked to answer what comes after the role check.
_KEYS = EnvSecrets({"SVMFLOW_SECRET_API_KEYS": "dev-local-key,operator:op-key"})


@dataclass
class Apps:
    """The session's working system, one on a dead Redis, one with no model yet, and one ("operated")
    whose read model holds an earlier version to roll back to and a batch stored without the inputs an
    explanation needs; its Pub/Sub is a bus nobody reads, so a rollback accepted there changes nothing."""

    system: System
    down: dict[str, TestClient]
    empty: dict[str, TestClient]
    operated: dict[str, TestClient]
    ports: dict[str, int]
    done: dict[str, Any]
    pending_id: str
    job_id: str
    version: str
    earlier_version: str
    unexplainable_id: str

    def client(self, api: str) -> TestClient:
        return self.system.ingest if api == "ingest" else self.system.predict


def _dead_redis() -> redis.Redis:
    return redis.Redis(port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


def _bulk_file(system: System) -> str:
    path = f"bulk/{uuid.uuid4().hex[:8]}/answers.csv"
    row = ",".join(repr(x) for x in GENUINE)
    system.container.bucket.write(path, f"subject,a,b,c,d\nnote-0,{row}\nnote-1,{row}\n".encode())
    return path


WAITING_DEAD_LETTER = "dead-letter-waiting"


def _operated_read_model(system: System, service: Service, batch_id: str) -> tuple[str, str, str]:
    """The session's current model, an earlier promoted version, and the done batch under another id
    without its explanation inputs (as when restored while its model's artifact was unavailable)."""
    source: ReadModel = system.container.read_model
    read_model: ReadModel = service.read_model
    current = source.current_model()
    assert current is not None
    now = datetime.now(UTC)
    earlier = f"{current.version}-earlier"
    entry = source.model_version(current.version)
    assert entry is not None
    older = msgspec.structs.replace(entry, version=earlier, decision="promoted")
    read_model.put_model_version(older, now - timedelta(days=1))
    read_model.put_model_version(entry, now)
    read_model.put_current_model(current, now)
    view = source.get_batch(batch_id)
    assert view is not None
    unexplainable_id = BatchIds(service.backend.secrets).issue()
    read_model.put_batch(msgspec.structs.replace(view, batch_id=unexplainable_id))
    read_model.put_dead_letter(
        DeadLetterView(
            message_id=WAITING_DEAD_LETTER,
            topic="prediction-requests",
            reason="dead-lettered after 5 attempts, not retried again until replayed",
            batch_id=unexplainable_id,
            function="prediction",
            delivery_attempts=5,
            dead_lettered_at=now,
        )
    )
    return current.version, earlier, unexplainable_id


@pytest.fixture(scope="module")
def apps(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Apps]:
    def clients(redis_client: Any, folder: Path) -> dict[str, TestClient]:
        container = Container(make_settings(folder), redis=redis_client, secrets=_KEYS)
        return {
            "ingest": TestClient(create_ingest_app(backend_of(container))),
            "predict": TestClient(create_predict_app(backend_of(container))),
        }

    down = clients(_dead_redis(), tmp_path_factory.mktemp("down"))
    empty = clients(fakeredis.FakeRedis(server=fakeredis.FakeServer()), tmp_path_factory.mktemp("empty"))
    operated = clients(
        fakeredis.FakeRedis(server=fakeredis.FakeServer()), tmp_path_factory.mktemp("operated")
    )
    done = system.done(system.submit(2)["batch_id"])
    job = system.ingest.post("/v1/jobs/bulk", json={"uri": _bulk_file(system)}, headers=AUTH)
    assert job.status_code == 202, job.text
    system.drain()
    pending_id = BatchIds(system.container.secrets).issue()  # issued, never submitted: pending for ever
    operated_service = operated["predict"].app.state.service  # type: ignore[attr-defined]
    version, earlier, unexplainable_id = _operated_read_model(system, operated_service, done["batch_id"])
    with serve(system.ingest.app) as ingest_port, serve(system.predict.app) as predict_port:
        yield Apps(
            system,
            down,
            empty,
            operated,
            {"ingest": ingest_port, "predict": predict_port},
            done,
            pending_id,
            job.json()["job_id"],
            version,
            earlier,
            unexplainable_id,
        )


Call = Callable[[Apps, str, str, str], Answer]


def _answer(response: Any) -> Answer:
    content_type = response.headers.get("content-type", "")
    return Answer(response.status_code, {"content-type": content_type}, response.content)


def _path(apps: Apps, path: str, batch_id: str | None = None) -> str:
    path = path.replace("{job_id}", batch_id or apps.job_id).replace("{version}", batch_id or apps.version)
    path = path.replace("{message_id}", batch_id or WAITING_DEAD_LETTER)
    return path.replace("{batch_id}", batch_id or str(apps.done["batch_id"]))


def _app(which: str = "system", headers: dict[str, str] | None = None, **kwargs: Any) -> Call:
    """A request to the session's system, the one on a dead Redis ("down") or the empty one."""

    def call(apps: Apps, api: str, method: str, path: str) -> Answer:
        client = apps.client(api) if which == "system" else getattr(apps, which)[api]
        sent = AUTH if headers is None else headers
        return _answer(client.request(method.upper(), _path(apps, path), headers=sent, **kwargs))

    return call


def _on(batch_id_of: Callable[[Apps], str], which: str = "system", **kwargs: Any) -> Call:
    """A request about another batch (or job, or model version) than the usual one."""

    headers = kwargs.pop("headers", AUTH)

    def call(apps: Apps, api: str, method: str, path: str) -> Answer:
        client = apps.client(api) if which == "system" else getattr(apps, which)[api]
        target = _path(apps, path, batch_id_of(apps))
        return _answer(client.request(method.upper(), target, headers=headers, **kwargs))

    return call


def _rate(body_of: Callable[[Apps], Any], which: str = "system", headers: dict[str, str] = AUTH) -> Call:
    def call(apps: Apps, api: str, method: str, path: str) -> Answer:
        client = apps.client(api) if which == "system" else getattr(apps, which)[api]
        return _answer(client.patch(_path(apps, path), json=body_of(apps), headers=headers))

    return call


def _ratings(apps: Apps) -> dict[str, Any]:
    return {"subjects": [apps.done["results"][0]["subject"]], "ratings": [1]}


def _raw_line(apps: Apps, method: str, path: str) -> bytes:
    return f"{method.upper()} {_path(apps, path)} HTTP/1.1\r\n".encode()


def _framing(apps: Apps, api: str, method: str, path: str) -> Answer:
    request = _raw_line(apps, method, path) + b"Host: a\r\nContent-Length: -1\r\n\r\n"
    return send_raw(apps.ports[api], request)


def _slow(apps: Apps, api: str, method: str, path: str) -> Answer:
    request = _raw_line(apps, method, path) + b"Host: a\r\nX-Pad: " + b"a" * 60
    return send_slowly(apps.ports[api], request, interval=0.5)[0]


def _big_headers(apps: Apps, api: str, method: str, path: str) -> Answer:
    with socket.create_connection(("127.0.0.1", apps.ports[api]), timeout=10) as conn:
        conn.sendall(_raw_line(apps, method, path) + b"Host: a\r\nX-Pad: " + b"a" * 10_000)
        time.sleep(0.2)  # the server has read what came so far
        conn.sendall(b"a" * 10_000)
        return parse(read_all(conn))


_TRANSPORT: dict[int, Call] = {400: _framing, 408: _slow, 431: _big_headers}
_NO_KEY: dict[int, Call] = {401: _app(headers={})}
_DOWN: dict[int, Call] = {503: _app("down")}
_JSON = {**AUTH, "Content-Type": "application/json"}
_OPERATOR_JSON = {**OPERATOR, "Content-Type": "application/json"}


def _rollback(which: str = "operated", headers: dict[str, str] = OPERATOR, **kwargs: Any) -> Call:
    return _app(which, headers=headers, **kwargs)


def _unknown_dead_letter(apps: Apps, api: str, method: str, path: str) -> Answer:
    target = _path(apps, path, "never-dead-lettered")
    return _answer(apps.operated[api].request(method.upper(), target, headers=OPERATOR))


def _bulk_submission(apps: Apps, api: str, method: str, path: str) -> Answer:
    return _app(json={"uri": _bulk_file(apps.system)})(apps, api, method, path)


PROVOKE: dict[tuple[str, str, str], dict[int, Call]] = {
    ("ingest", "post", "/v1/batches"): {
        202: _app(json=batch(1)),
        413: _app(headers=_JSON, content=b" " * (MAX_BODY_BYTES + 1)),
        415: _app(headers={**AUTH, "Content-Type": "text/plain"}, content=b"{}"),
        422: _app(json={"subjects": ["a"], "features": []}),
        503: _app("down", json=batch(1)),
        **_NO_KEY,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/batches"): {200: _app(), **_NO_KEY, **_DOWN, **_TRANSPORT},
    ("predict", "get", "/v1/batches/{batch_id}"): {
        200: _app(),
        202: _on(lambda apps: apps.pending_id),
        400: _app(params={"explain": "yes"}),
        404: _on(lambda _: "never-issued"),
        409: _on(lambda apps: apps.unexplainable_id, "operated", params={"explain": "true"}),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "patch", "/v1/batches/{batch_id}"): {
        202: _rate(_ratings),
        401: _rate(_ratings, headers={}),
        404: _on(lambda _: "never-issued", json={"subjects": ["a"], "ratings": [1]}),
        409: _on(lambda apps: apps.pending_id, json={"subjects": ["a"], "ratings": [1]}),
        413: _app(headers=_JSON, content=b" " * (MAX_FEEDBACK_BYTES + 1)),
        415: _app(headers={**AUTH, "Content-Type": "text/csv"}, content=b"a,1"),
        422: _rate(lambda apps: {**_ratings(apps), "ratings": [7]}),
        503: _rate(_ratings, which="down"),
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/batches/{batch_id}/training-labels"): {
        200: _app(),
        404: _on(lambda _: "never-issued"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/models/current"): {
        200: _app(),
        404: _app("empty"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/models"): {200: _app(), **_NO_KEY, **_DOWN, **_TRANSPORT},
    ("predict", "get", "/v1/jobs"): {200: _app(), **_NO_KEY, **_DOWN, **_TRANSPORT},
    ("ingest", "post", "/v1/jobs/bulk"): {
        202: _bulk_submission,
        400: _app(headers=_JSON, content=b"{"),
        404: _app(json={"uri": "bulk/never-uploaded.csv"}),
        413: _app(headers=_JSON, content=b" " * (MAX_BULK_BODY_BYTES + 1)),
        415: _app(headers={**AUTH, "Content-Type": "text/plain"}, content=b"{}"),
        422: _app(json={"uri": "models/pointer.csv"}),
        503: _app("down", json={"uri": "bulk/x.csv"}),
        **_NO_KEY,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/jobs/bulk/{job_id}"): {
        200: _app(),
        202: _on(lambda apps: apps.pending_id),
        404: _on(lambda _: "never-issued"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/models/{version}/performance"): {
        200: _app(),
        404: _on(lambda _: "never-trained"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/models/{version}/drift"): {
        200: _app(),
        404: _on(lambda _: "never-trained"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/training-rows"): {
        200: _app(),
        400: _app(params={"status": "lost"}),
        404: _app("empty"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/batches/{batch_id}/deliveries"): {
        200: _app(),
        404: _on(lambda _: "never-issued"),
        **_NO_KEY,
        **_DOWN,
        **_TRANSPORT,
    },
    ("predict", "get", "/v1/me"): {200: _app(), **_NO_KEY, **_TRANSPORT},
    ("predict", "get", "/v1/dead-letters"): {
        200: _rollback(),
        403: _app(),
        503: _rollback("down"),
        **_NO_KEY,
        **_TRANSPORT,
    },
    ("predict", "post", "/v1/dead-letters/{message_id}/replay"): {
        202: _rollback(),
        403: _app(),
        404: _unknown_dead_letter,
        503: _rollback("down"),
        **_NO_KEY,
        **_TRANSPORT,
    },
    ("predict", "post", "/v1/models/rollback"): {
        202: _rollback(json={}),
        400: _rollback(headers=_OPERATOR_JSON, content=b"{"),
        403: _app(json={}),
        404: _rollback(json={"to_version": "never-trained"}),
        409: _rollback("empty", json={}),
        413: _rollback(headers=_OPERATOR_JSON, content=b" " * (MAX_ROLLBACK_BYTES + 1)),
        415: _rollback(headers={**OPERATOR, "Content-Type": "text/plain"}, content=b"{}"),
        422: _rollback(json={"to_version": 5}),
        503: _rollback("down", json={}),
        **_NO_KEY,
        **_TRANSPORT,
    },
}
for _api in ("ingest", "predict"):
    PROVOKE[(_api, "get", "/healthz")] = {200: _app(), **_TRANSPORT}
    PROVOKE[(_api, "get", "/readyz")] = {200: _app(), 503: _app("down"), **_TRANSPORT}


def _documented() -> dict[tuple[str, str, str], dict[str, Any]]:
    operations = {}
    for api, document in (("ingest", ingest_document(MAX_BODY_BYTES)), ("predict", predict_document())):
        for path, item in document["paths"].items():
            for method, operation in item.items():
                if method != "parameters":
                    operations[(api, method, path)] = operation["responses"]
    return operations


def test_every_operation_documents_exactly_what_it_can_answer() -> None:
    documented = _documented()
    assert set(documented) == set(PROVOKE)
    for key, responses in documented.items():
        assert {int(status) for status in responses} == set(PROVOKE[key]), key


CASES = [(key, status) for key, statuses in PROVOKE.items() for status in statuses]


@pytest.fixture(scope="module")
def answers(apps: Apps) -> dict[tuple[tuple[str, str, str], int], Answer]:
    """Every case at once (the slow ones wait for the server's deadline, so they run side by side)."""
    lock = threading.Lock()
    results: dict[tuple[tuple[str, str, str], int], Answer] = {}

    def run(case: tuple[tuple[str, str, str], int]) -> None:
        (api, method, path), status = case
        answer = PROVOKE[case[0]][status](apps, api, method, path)
        with lock:
            results[case] = answer

    slow = [case for case in CASES if case[1] == 408]
    with ThreadPoolExecutor(max_workers=len(slow)) as pool:
        futures = [pool.submit(run, case) for case in slow]
        for case in CASES:
            if case[1] != 408:
                run(case)
        for future in futures:
            future.result()
    return results


@pytest.mark.parametrize(("operation", "status"), CASES, ids=[f"{k[0]}-{k[1]}-{k[2]}-{s}" for k, s in CASES])
def test_each_documented_answer_is_served_as_documented(
    answers: dict[tuple[tuple[str, str, str], int], Answer], operation: tuple[str, str, str], status: int
) -> None:
    answer = answers[(operation, status)]
    assert answer.status == status, (answer.status, answer.body[:300])
    documented = _documented()[operation][str(status)]
    (content_type,) = documented["content"]
    assert answer.headers["content-type"].split(";")[0] == content_type
    if content_type == PROBLEM_JSON:
        problem = json.loads(answer.body)
        assert problem["status"] == status
        assert problem["title"]
        assert problem["detail"]


def test_the_provoked_rollback_and_explanation_conflict_are_the_ones_meant(
    apps: Apps, answers: dict[tuple[tuple[str, str, str], int], Answer]
) -> None:
    """The operated app's answers come from its own read model: the rollback accepted names the earlier
    version, and the 409 is the batch stored without explanation inputs, not some other conflict."""
    accepted = json.loads(answers[(("predict", "post", "/v1/models/rollback"), 202)].body)
    assert accepted["to_version"] == apps.earlier_version
    conflict = json.loads(answers[(("predict", "get", "/v1/batches/{batch_id}"), 409)].body)
    assert conflict["field"] == "explain"
