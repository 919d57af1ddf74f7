"""The HTTP edge: whatever a client sends, the answer is a 4xx problem+json naming the problem, never a
5xx or a text/plain line; a slow client is cut off; a client hanging up is not a server error."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from api import errors
from api.errors import ApiError
from tests.api.conftest import AUTH, KEY, System, batch
from tests.api.edge_server import REQUEST_TIMEOUT, parse, read_all, send_raw, send_slowly, serve

JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def ingest_port(system: System) -> Iterator[int]:
    with serve(system.ingest.app) as port:
        yield port


@pytest.fixture
def done_batch(system: System) -> dict[str, Any]:
    accepted = system.submit(2)
    return system.done(accepted["batch_id"])


def _request(method: str, path: str, body: bytes = b"", headers: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: {KEY}\r\n{headers}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# -- bodies ------------------------------------------------------------------------------------


class TestBodies:
    NOT_UTF8 = b'{"subjects": ["caf\xe9"], "features": [[1, 2, 3, 4]]}'

    def test_a_body_that_is_not_utf8_is_400_on_post(self, system: System) -> None:
        response = system.ingest.post("/v1/batches", content=self.NOT_UTF8, headers={**AUTH, **JSON})
        assert response.status_code == 400, response.text
        assert "not valid UTF-8 (byte 0xe9 at offset 18)" in response.json()["detail"]

    def test_a_body_that_is_not_utf8_is_400_on_patch(
        self, system: System, done_batch: dict[str, Any]
    ) -> None:
        subject = done_batch["results"][0]["subject"].encode()
        body = b'{"subjects": ["' + subject + b'\xff"], "ratings": [1]}'
        response = system.predict.patch(
            f"/v1/batches/{done_batch['batch_id']}", content=body, headers={**AUTH, **JSON}
        )
        assert response.status_code == 400, response.text
        assert "UTF-8" in response.json()["detail"]

    @pytest.mark.parametrize(
        ("body", "key"),
        [
            (b'{"subjects": ["a"], "subjects": ["b"], "features": [[1, 2, 3, 4]]}', "subjects"),
            (b'{"subjects": ["a"], "features": [[1, 2, 3, 4]], "features": [[1, 2, 3, 4]]}', "features"),
            # The same key, once written with an escape.
            (b'{"subjects": ["a"], "subj\\u0065cts": ["b"], "features": [[1, 2, 3, 4]]}', "subjects"),
            # Inside garbage the decoder would refuse anyway: the ambiguity is named first.
            (b'{"subjects": ["a"], "features": [[{"x": 1, "x": 2}]]}', "x"),
        ],
    )
    def test_a_key_twice_in_an_object_is_400_naming_it(self, system: System, body: bytes, key: str) -> None:
        response = system.ingest.post("/v1/batches", content=body, headers={**AUTH, **JSON})
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["field"] == key
        assert f"{key!r} appears twice" in problem["detail"]

    def test_a_key_twice_in_ratings_is_400(self, system: System, done_batch: dict[str, Any]) -> None:
        subject = done_batch["results"][0]["subject"]
        body = json.dumps({"subjects": [subject], "ratings": [1]})[:-1] + ', "ratings": [0]}'
        response = system.predict.patch(
            f"/v1/batches/{done_batch['batch_id']}", content=body.encode(), headers={**AUTH, **JSON}
        )
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "ratings"

    def test_a_subject_that_looks_like_a_key_is_not_a_repeat(self, system: System) -> None:
        body = {"subjects": ["subjects", "{features}"], "features": batch(2)["features"]}
        assert system.ingest.post("/v1/batches", json=body, headers=AUTH).status_code == 202

    def _gzip(self, system: System, body: bytes) -> Any:
        headers = {**AUTH, **JSON, "Content-Encoding": "gzip"}
        return system.ingest.post("/v1/batches", content=body, headers=headers)

    @pytest.mark.parametrize(
        "trailer", [b"garbage", b"\x00\x00\x00\x00", b"\x1f", b"\x1f\x8bnot-gzip"], ids=repr
    )
    def test_gzip_with_data_after_it_is_400(self, system: System, trailer: bytes) -> None:
        response = self._gzip(system, gzip.compress(json.dumps(batch(1)).encode()) + trailer)
        assert response.status_code == 400, response.text
        assert response.json()["field"] == "Content-Encoding"

    def test_multi_member_gzip_is_accepted(self, system: System) -> None:
        text = json.dumps(batch(3)).encode()
        members = b"".join(gzip.compress(part) for part in (text[:10], text[10:25], text[25:]))
        response = self._gzip(system, members)
        assert response.status_code == 202, response.text
        assert response.json()["record_count"] == 3

    def test_multi_member_gzip_counts_every_member_against_the_limit(self, system: System) -> None:
        text = json.dumps(batch(1)).encode()
        padding = gzip.compress(b" " * (3 * 1024 * 1024))
        response = self._gzip(system, gzip.compress(text) + padding + padding)
        assert response.status_code == 413, response.text


# -- cursors -----------------------------------------------------------------------------------


class TestCursors:
    @pytest.fixture
    def cursor(self, system: System) -> str:
        for _ in range(3):
            system.submit(1)
        system.drain()
        page = system.predict.get("/v1/batches", params={"limit": "1"}, headers=AUTH).json()
        assert page["next_cursor"]
        return str(page["next_cursor"])

    def test_the_cursor_given_works(self, system: System, cursor: str) -> None:
        response = system.predict.get("/v1/batches", params={"limit": "1", "cursor": cursor}, headers=AUTH)
        assert response.status_code == 200

    def _refused(self, system: System, cursor: str) -> None:
        response = system.predict.get("/v1/batches", params={"limit": "1", "cursor": cursor}, headers=AUTH)
        assert response.status_code == 400, (cursor, response.text)
        assert response.json()["field"] == "cursor"

    def test_a_truncated_cursor_is_400(self, system: System, cursor: str) -> None:
        for cut in (1, 2, 5, 20, 30, len(cursor) - 1):
            self._refused(system, cursor[:-cut])
        self._refused(system, "")

    def test_an_altered_cursor_is_400(self, system: System, cursor: str) -> None:
        for index in (0, 5, len(cursor) // 2, len(cursor) - 1):
            swapped = "A" if cursor[index] != "A" else "B"
            self._refused(system, cursor[:index] + swapped + cursor[index + 1 :])
        payload, _, tag = cursor.rpartition(".")
        self._refused(system, payload)  # the old, unsealed form
        self._refused(system, f"{payload}.{'0' * len(tag)}")
        self._refused(system, cursor + "é")


# -- titles ------------------------------------------------------------------------------------


def test_every_problem_title_is_a_phrase_for_people() -> None:
    classes = [cls for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, ApiError)]
    assert len(classes) >= 10
    for cls in classes:
        assert not cls.title.endswith("Error"), cls
        assert cls.title[0].isupper(), cls.title
        assert cls.title[1:] == cls.title[1:].lower(), cls.title


def test_served_titles_are_phrases(system: System, done_batch: dict[str, Any]) -> None:
    unauthorized = system.predict.get("/v1/models")
    assert unauthorized.json()["title"] == "Unauthorized"
    pending = system.ingest.post("/v1/batches", json=batch(1), headers=AUTH).json()["batch_id"]
    conflict = system.predict.patch(
        f"/v1/batches/{pending}", json={"subjects": ["x"], "ratings": [1]}, headers=AUTH
    )
    if conflict.status_code == 409:  # the batch may already be done on a fast machine
        assert conflict.json()["title"] == "Conflict"
    assert errors.ConflictError("x").problem().title == "Conflict"


# -- framing, over a real socket ----------------------------------------------------------------

FRAMING = {
    "garbage request line": (b"GARBAGE\r\n\r\n", "request line"),
    "empty request line": (b"\r\n\r\n\r\n", "request line"),
    "no host": (b"GET /healthz HTTP/1.1\r\n\r\n", "Host"),
    "negative content-length": (_request("POST", "/v1/batches", headers="Content-Length: -1\r\n"), "Content"),
    "non-numeric content-length": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nContent-Length: twelve\r\n\r\n",
        "Content-Length",
    ),
    "two content-lengths": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "Content-Length",
    ),
    "bad chunk size": (
        f"POST /v1/batches HTTP/1.1\r\nHost: a\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".encode(),
        "chunk",
    ),
    "huge chunk size": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"f" * 24 + b"\r\n",
        "chunk",
    ),
    "unknown transfer-encoding": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
        "Transfer-Encoding",
    ),
    "header without a colon": (b"GET /healthz HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n", "header"),
    "space before the colon": (b"GET /healthz HTTP/1.1\r\nHost : a\r\n\r\n", "header"),
    "bytes over 0x7f in the target": (b"GET /\xff HTTP/1.1\r\nHost: a\r\n\r\n", "request line"),
}


@pytest.mark.parametrize("name", list(FRAMING))
def test_a_framing_error_is_400_problem_json(ingest_port: int, name: str) -> None:
    data, named = FRAMING[name]
    answer = send_raw(ingest_port, data)
    assert answer.status == 400, answer
    problem = answer.problem()
    assert problem["title"] == "Bad request"
    assert problem["detail"].startswith("the request is not valid HTTP/1.1: ")
    assert named.lower() in problem["detail"].lower()
    assert answer.headers["connection"] == "close"


def test_headers_over_the_limit_are_431_problem_json(ingest_port: int) -> None:
    with socket.create_connection(("127.0.0.1", ingest_port), timeout=10) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-Pad: " + b"a" * 10_000)
        time.sleep(0.2)  # the server has read what came so far
        conn.sendall(b"a" * 10_000)
        answer = parse(read_all(conn))
    assert answer.status == 431
    assert answer.problem()["title"] == "Request header fields too large"


def test_after_a_framing_error_the_server_still_answers(ingest_port: int) -> None:
    for data, _ in FRAMING.values():
        send_raw(ingest_port, data)
    answer = send_raw(ingest_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert answer.status == 200


# -- slow and vanishing clients -----------------------------------------------------------------


def test_a_client_sending_a_byte_a_second_is_cut_off_with_408(ingest_port: int) -> None:
    body = json.dumps(batch(1)).encode()
    answer, seconds = send_slowly(ingest_port, _request("POST", "/v1/batches", body), interval=0.5)
    assert answer.status == 408
    problem = answer.problem()
    assert problem["title"] == "Request timeout"
    assert f"within {REQUEST_TIMEOUT:g} seconds" in problem["detail"]
    # Cut off near the deadline, long before the request would have arrived (~200 s at this pace).
    assert REQUEST_TIMEOUT <= seconds < REQUEST_TIMEOUT + 10


def test_a_slow_body_is_cut_off_too(ingest_port: int) -> None:
    """Headers at once, then the body a byte at a time: the app is waiting for it and must let go."""
    body = json.dumps(batch(1)).encode()
    request = _request("POST", "/v1/batches", body)
    head, body_start = request[: request.index(b"\r\n\r\n") + 4], request[request.index(b"\r\n\r\n") + 4 :]
    with socket.create_connection(("127.0.0.1", ingest_port), timeout=30) as conn:
        conn.sendall(head)
        answer, _ = _trickle(conn, body_start)
    assert answer.status == 408


def _trickle(conn: socket.socket, data: bytes) -> tuple[Any, float]:
    started = time.monotonic()
    conn.settimeout(0.5)
    for byte in data:
        try:
            conn.sendall(bytes([byte]))
            first = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        conn.settimeout(10)
        return parse(first + read_all(conn)), time.monotonic() - started
    conn.settimeout(10)
    return parse(read_all(conn)), time.monotonic() - started


def test_many_slow_clients_do_not_tie_up_the_server(ingest_port: int) -> None:
    slow_answers: list[int] = []
    lock = threading.Lock()

    def slow_client() -> None:
        answer, _ = send_slowly(ingest_port, _request("POST", "/v1/batches", b"{}" * 100), interval=0.5)
        with lock:
            slow_answers.append(answer.status)

    threads = [threading.Thread(target=slow_client) for _ in range(30)]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    # While thirty connections trickle, everyone else is served.
    for _ in range(10):
        answer = send_raw(ingest_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        assert answer.status == 200
    for thread in threads:
        thread.join(30)
    assert slow_answers == [408] * 30


def test_an_idle_connection_is_closed(ingest_port: int) -> None:
    with socket.create_connection(("127.0.0.1", ingest_port), timeout=REQUEST_TIMEOUT + 10) as conn:
        assert conn.recv(1) == b""  # closed by the server, without an answer to a request never sent


def test_a_client_hanging_up_mid_body_is_one_info_line(
    ingest_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    request = _request("POST", "/v1/batches", json.dumps(batch(50)).encode())
    with socket.create_connection(("127.0.0.1", ingest_port), timeout=10) as conn:
        conn.sendall(request[: len(request) - 200])
        time.sleep(0.3)
    deadline = time.monotonic() + 10
    while not [r for r in caplog.records if "went away" in r.getMessage()] and time.monotonic() < deadline:
        time.sleep(0.05)
    went_away = [r for r in caplog.records if "went away" in r.getMessage()]
    assert len(went_away) == 1
    assert went_away[0].levelno == logging.INFO
    assert went_away[0].exc_info is None
    serious = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert serious == [], [r.getMessage() for r in serious]
