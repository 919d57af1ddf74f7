"""A corpus of hostile requests, generated: malformed JSON, wrong types, huge numbers, NaN, nested
garbage, wrong content types, bad encodings, bad gzip, header abuse, path abuse, odd methods, and
framing no HTTP library would send. Every answer is below 500; every error is problem+json whose status
is the HTTP status, with a title for people and a detail; where the right answer is known, it is the
one given."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from api.ingest import MAX_BODY_BYTES
from tests.api.conftest import AUTH, GENUINE, KEY, System
from tests.api.edge_server import Answer, send_raw, serve

JSON = {**AUTH, "Content-Type": "application/json"}
ROW = json.dumps(GENUINE)


@dataclass(frozen=True)
class Case:
    name: str
    api: str
    method: str
    path: str
    content: bytes = b""
    headers: dict[str, Any] = field(default_factory=lambda: dict(JSON))
    expect: frozenset[int] | None = None  # None: any 4xx or a success


def _batch(subjects: str = '["a"]', features: str = f"[{ROW}]") -> bytes:
    return f'{{"subjects": {subjects}, "features": {features}}}'.encode()


def _ingest(name: str, content: bytes, *expect: int, headers: dict[str, str] | None = None) -> Case:
    return Case(
        name, "ingest", "POST", "/v1/batches", content, headers or dict(JSON), frozenset(expect) or None
    )


def _rate(name: str, content: bytes, *expect: int, headers: dict[str, str] | None = None) -> Case:
    return Case(
        name,
        "predict",
        "PATCH",
        "/v1/batches/{done}",
        content,
        headers or dict(JSON),
        frozenset(expect) or None,
    )


MALFORMED = [
    "",
    " ",
    "{",
    "}",
    "[",
    "]",
    "{}{}",
    '{"subjects":',
    '{"subjects": ["a"],}',
    '{"subjects": ["a"] "features": []}',
    "{'subjects': ['a']}",
    '{subjects: ["a"]}',
    "nul",
    "tru",
    "null",
    "true",
    "0",
    "-",
    "1.",
    ".5",
    '"text"',
    '{"subjects": ["a"], "features": [[1,2,3,4]]} // comment',
    "/* */ {}",
    '{"a": "unterminated}',
    '{"a": "\\x"}',
    '{"a": "\\ud800"}',
    '{"a": "\\u12"}',
    "\x00",
    '{"a": 1}\x00',
    "[" * 5000 + "]" * 5000,
    '{"a":' * 3000,
    "NaN",
    "Infinity",
    "-Infinity",
    '{"subjects": ["a"], "features": [[NaN, 1, 2, 3]]}',
    '{"subjects": ["a"], "features": [[Infinity, 1, 2, 3]]}',
    '{"subjects": ["a"], "features": [[01, 1, 2, 3]]}',
    '{"subjects": ["a"], "features": [[+1, 1, 2, 3]]}',
    '{"subjects": ["a"], "features": [[0x10, 1, 2, 3]]}',
    '{"subjects": ["a"], "features": [[1e, 1, 2, 3]]}',
    '{"subjects": ["a\n"], "features": [[1, 1, 2, 3]]}',
]

WRONG_VALUES = [
    "null",
    "true",
    "1",
    "-1",
    "1.5",
    '"x"',
    '""',
    "{}",
    '{"a": 1}',
    "[]",
    "[null]",
    "[true]",
    "[1]",
    '[""]',
    "[[]]",
    '[["a"]]',
    "[{}]",
    '[["x", "y"]]',
    "[[null, 1, 2, 3]]",
    "[[true, 1, 2, 3]]",
    '[["1", 1, 2, 3]]',
    "[[[1], 1, 2, 3]]",
    "[[{}, 1, 2, 3]]",
    "[[1, 2, 3]]",
    "[[1, 2, 3, 4, 5]]",
    f"[{ROW}, {ROW}]",
]

NUMBERS = [
    "1e308",
    "-1e308",
    "1e309",
    "-1e309",
    "1e101",
    "-1e101",
    "1e100",
    "1e-400",
    "-0",
    "0.0",
    "1" * 400,
    "-" + "9" * 400,
    "1." + "0" * 5000,
    "4.9e-324",
    "2.2250738585072014e-308",
    "18446744073709551616",
    "-9223372036854775809",
    "123456789012345678901234567890e-10",
]

CONTENT_TYPES = [
    None,
    "text/plain",
    "application/xml",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "application/json-patch+json",
    "application/jsonx",
    "json",
    "*/*",
    "application/*",
    "",
    "text/json",
    "application/problem+json",
    "application/octet-stream",
    "application/json\x7f",
]
ACCEPTED_CONTENT_TYPES = ["APPLICATION/JSON", "application/json; charset=utf-8", "application/json ; x=y"]

ENCODINGS = [
    "br",
    "deflate",
    "compress",
    "zstd",
    "gzip, gzip",
    "gzip;q=1",
    "chunked",
    "identity, gzip",
    "*",
    "x",
]

BAD_BYTES = [
    b'{"subjects": ["\xff"], "features": [[1, 2, 3, 4]]}',
    b'{"subjects": ["\xc0\xaf"], "features": [[1, 2, 3, 4]]}',
    b'{"subjects": ["\xed\xa0\x80"], "features": [[1, 2, 3, 4]]}',
    b'{"subjects": ["\xe9t\xe9"], "features": [[1, 2, 3, 4]]}',
    b'{"subjects": ["\xf4\x90\x80\x80"], "features": [[1, 2, 3, 4]]}',
    b'{"subjects": ["a"], "features": [[1, 2, 3, 4]]}\xff',
    b"\xef\xbb\xbf" + _batch(),
    b"\xff\xfe" + json.dumps({"subjects": ["a"]}).encode("utf-16-le"),
    json.dumps({"subjects": ["a"], "features": [GENUINE]}).encode("utf-16"),
    json.dumps({"subjects": ["a"], "features": [GENUINE]}).encode("utf-32"),
    b"\x80" * 100,
]


def _gzip_cases() -> list[Case]:
    good = gzip.compress(_batch(subjects='["gz"]'))
    gz = {**JSON, "Content-Encoding": "gzip"}
    corrupt_crc = good[:-8] + bytes([good[-8] ^ 0xFF]) + good[-7:]
    corrupt_size = good[:-4] + b"\x00\x00\x00\x00"
    cases = [
        ("truncated", good[:-5], 400),
        ("header only", good[:10], 400),
        ("crc wrong", corrupt_crc, 400),
        ("size wrong", corrupt_size, 400),
        ("random bytes", bytes(range(256)), 400),
        ("zlib stream", zlib.compress(_batch()), 400),
        ("raw deflate", zlib.compress(_batch())[2:-4], 400),
        ("trailing garbage", good + b"garbage", 400),
        ("trailing zeros", good + b"\x00" * 16, 400),
        ("trailing newline", good + b"\n", 400),
        ("second member broken", good + gzip.compress(b" ")[:-3], 400),
        ("empty member only", gzip.compress(b""), 400),
        ("whitespace only", gzip.compress(b"    "), 400),
        ("not utf-8 inside", gzip.compress(b'{"subjects": ["\xff"]}'), 400),
        ("not json inside", gzip.compress(b"hello"), 400),
        ("bomb", gzip.compress(b" " * (MAX_BODY_BYTES + 10)), 413),
        ("plain json labelled gzip", _batch(), 400),
        ("gzip labelled identity", good, 400),
    ]
    built = []
    for name, content, status in cases:
        headers = {**JSON, "Content-Encoding": "identity"} if "identity" in name else gz
        built.append(_ingest(f"gzip: {name}", content, status, headers=headers))
        built.append(_rate(f"gzip: {name}", content, status, headers=headers))
    return built


def _header_cases() -> list[Case]:
    body = _batch()
    cases = [
        ("idempotency key empty", {"Idempotency-Key": ""}, 400),
        ("idempotency key 256", {"Idempotency-Key": "k" * 256}, 400),
        ("idempotency key space", {"Idempotency-Key": "a b"}, 400),
        ("idempotency key latin-1", {"Idempotency-Key": "caf\xe9".encode("latin-1")}, 400),
        ("idempotency key tab", {"Idempotency-Key": "a\tb"}, 400),
        ("no api key", {"X-API-Key": ""}, 401),
        ("huge api key", {"X-API-Key": "k" * 8000}, 401),
        ("api key latin-1", {"X-API-Key": "\xe9".encode("latin-1")}, 401),
        ("bearer empty", {"X-API-Key": "", "Authorization": "Bearer "}, 401),
        ("basic auth", {"X-API-Key": "", "Authorization": "Basic ZGV2LWxvY2FsLWtleTo="}, 401),
        ("bearer lowercase", {"X-API-Key": "", "Authorization": f"bearer {KEY}"}, 202),
        ("traceparent garbage", {"traceparent": "garbage"}, 202),
        ("traceparent huge", {"traceparent": "0" * 5000}, 202),
        ("accept garbage", {"Accept": "garbage/garbage"}, 202),
        ("accept-encoding odd", {"Accept-Encoding": "br;q=2, *;q=-1"}, 202),
        ("content-length declared huge", {"Content-Length": str(10**12)}, 413),
        ("many headers", {f"X-H-{i}": "v" for i in range(100)}, 202),
        ("host odd", {"Host": "evil.example:99999"}, 202),
        ("x-forwarded-for garbage", {"X-Forwarded-For": "not an ip, , ::::"}, 202),
        ("expect continue", {"Expect": "100-continue"}, 202),
    ]
    built = []
    for name, extra, status in cases:
        headers = {**JSON, **extra}
        if "X-API-Key" in extra and extra["X-API-Key"] == "":
            headers.pop("X-API-Key")
        built.append(_ingest(f"header: {name}", body, status, headers=headers))
    return built


def _path_cases() -> list[Case]:
    paths = [
        "/v1/batches/..%2f..%2fetc%2fpasswd",
        "/v1/batches/" + "a" * 10_000,
        "/v1/batches/%00",
        "/v1/batches/%ff",
        "/v1/batches/caf%C3%A9",
        "/v1/batches/{done}/extra",
        "/v1/batches/{done}%20",
        "/v1/batches/{done}x",
        "/v1//batches",
        "/v1/batches/%2e%2e",
        "/v1/batches/-",
        "/v1/batches/" + "0" * 24 + "-" + "0" * 24,
        "/v1/models/../jobs",
        "/V1/BATCHES",
        "/v1/jobs/",
        "/v1",
        "/",
        "/openapi.json/x",
        "/.env",
        "/%",
        "/v1/batches?limit=1e3",
        "/v1/batches?limit=%00",
        "/v1/batches?limit=%D9%A3",
        "/v1/batches?limit=",
        "/v1/batches?limit=1&limit=2",
        "/v1/batches?cursor=" + "A" * 5000,
        "/v1/batches?cursor=%ff",
        "/v1/batches?cursor=a.b.c",
        "/v1/batches?cursor=",
        "/v1/batches?limit=-0",
        "/v1/batches?limit=+5",
        "/v1/batches?limit= 5",
        "/v1/batches?limit=99999999999999999999",
        "/v1/models?limit=0",
        "/v1/jobs?limit=abc",
        "/v1/batches?%zz=1",
        "/v1/batches?" + "a=1&" * 2000,
    ]
    return [Case(f"path: {p[:60]}", "predict", "GET", p, b"", dict(AUTH)) for p in paths]


def _method_cases() -> list[Case]:
    cases = []
    for method in ("PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "GET", "FOO", "PROPFIND"):
        cases.append(Case(f"method: {method} ingest", "ingest", method, "/v1/batches", _batch(), dict(JSON)))
    for method in ("POST", "PUT", "DELETE", "OPTIONS", "FOO"):
        for path in (
            "/v1/batches",
            "/v1/batches/{done}",
            "/v1/models",
            "/v1/jobs",
            "/healthz",
            "/openapi.json",
        ):
            cases.append(
                Case(f"method: {method} {path}", "predict", method, path, b"{}", dict(JSON), frozenset({405}))
            )
    return cases


def corpus() -> list[Case]:
    cases: list[Case] = []
    for i, text in enumerate(MALFORMED):
        cases.append(_ingest(f"malformed {i}: {text[:30]!r}", text.encode(), 400, 422))
        cases.append(_rate(f"malformed {i}: {text[:30]!r}", text.encode(), 400, 422))
    for value in WRONG_VALUES:
        cases.append(_ingest(f"subjects = {value}", _batch(subjects=value), 422))
        cases.append(_ingest(f"features = {value}", _batch(features=value), 422))
        if value != "[1]":  # a valid rating
            ratings = b'{"subjects": ["s-0"], "ratings": ' + value.encode() + b"}"
            cases.append(_rate(f"ratings = {value}", ratings, 422))
    for extra in ('"extra": 1', '"SUBJECTS": ["a"]', '"subjects ": ["a"]', '"": 1'):
        cases.append(_ingest(f"unknown field {extra}", b"{" + extra.encode() + b", " + _batch()[1:], 422))
    for number in NUMBERS:
        cases.append(
            _ingest(f"number {number[:20]}", _batch(features=f"[[{number}, 1, 2, 3]]"), 202, 400, 422)
        )
    for rating in ("2", "-1", "0.5", "1.0", '"1"', "true", "null", "1e400", "[1]"):
        cases.append(
            _rate(f"rating {rating}", b'{"subjects": ["s-0"], "ratings": [' + rating.encode() + b"]}", 422)
        )
    nested = [
        _batch(features="[" * 200 + "1" + "]" * 200),
        _batch(subjects="[" * 200 + '"a"' + "]" * 200),
        _batch(features='[{"a": {"b": {"c": [1, 2, 3]}}}]'),
        _batch(subjects=json.dumps([{"a": [None] * 50}])),
        _batch(features=json.dumps([[1, 2, 3, 4]] * 10_001)),
        _batch(subjects=json.dumps(["s"] * 2), features=json.dumps([GENUINE] * 2)),
        _batch(subjects=json.dumps(["x" * 129]), features=f"[{ROW}]"),
        _batch(subjects='[""]', features=f"[{ROW}]"),
        _batch(features=json.dumps([[1.0] * 65])),
        _batch(features=json.dumps([[1.0] * 10_000])),
    ]
    for i, content in enumerate(nested):
        cases.append(_ingest(f"nested garbage {i}", content, 422))
    for content_type in CONTENT_TYPES:
        headers = {**AUTH} if content_type is None else {**AUTH, "Content-Type": content_type}
        cases.append(_ingest(f"content type {content_type!r}", _batch(), 415, headers=headers))
        cases.append(
            _rate(
                f"content type {content_type!r}",
                b'{"subjects": ["s-0"], "ratings": [1]}',
                415,
                headers=headers,
            )
        )
    for content_type in ACCEPTED_CONTENT_TYPES:
        cases.append(
            _ingest(
                f"content type {content_type!r}",
                _batch(),
                202,
                headers={**AUTH, "Content-Type": content_type},
            )
        )
    for encoding in ENCODINGS:
        headers = {**JSON, "Content-Encoding": encoding}
        cases.append(_ingest(f"encoding {encoding!r}", _batch(), 415, headers=headers))
        cases.append(
            _rate(f"encoding {encoding!r}", b'{"subjects": ["s-0"], "ratings": [1]}', 415, headers=headers)
        )
    for i, content in enumerate(BAD_BYTES):
        cases.append(_ingest(f"bad bytes {i}", content, 400))
        # Not UTF-8 and, as ratings, also the wrong shape: either fault may be named first.
        cases.append(_rate(f"bad bytes {i}", content.replace(b"features", b"ratings"), 400, 422))
    for key in ("subjects", "features"):
        twice = _batch()[:-1] + f', "{key}": []}}'.encode()
        cases.append(_ingest(f"{key} twice", twice, 400))
    cases += _gzip_cases() + _header_cases() + _path_cases() + _method_cases()
    return cases


CORPUS = corpus()
IDS = [f"{c.method} {c.api} {c.name}" for c in CORPUS]

RAW = {
    "content-length and chunked": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"0\r\n\r\n"
    ),
    "obsolete line folding": (
        b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n folded\r\nConnection: close\r\n\r\n"
    ),
    "bare LF": b"GET /healthz HTTP/1.1\nHost: a\nConnection: close\n\n",
    "NUL in a header": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\nConnection: close\r\n\r\n",
    "lowercase method": b"get /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "HTTP/0.9": b"GET /healthz\r\n\r\n",
    "HTTP/3.0": b"GET /healthz HTTP/3.0\r\nHost: a\r\nConnection: close\r\n\r\n",
    "absolute form": b"GET http://other/healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "asterisk": b"OPTIONS * HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "long target": b"GET /" + b"a" * 12_000 + b" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    "negative chunk": b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\n",
    "chunk too short": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"10\r\n{}\r\n0\r\n\r\n"
    ),
    "body longer than content-length": (
        f"POST /v1/batches HTTP/1.1\r\nHost: a\r\nX-API-Key: {KEY}\r\nContent-Type: application/json\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}garbage".encode()
    ),
    "binary request line": bytes(range(1, 32)) + b"\r\n\r\n",
    "TLS hello on plain HTTP": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,
    "space in header name": b"GET /healthz HTTP/1.1\r\nHost: a\r\nX A: b\r\n\r\n",
    "content-length with plus": b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\n{}",
    "content-length hex": b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nContent-Length: 0x2\r\n\r\n{}",
    "content-length huge": (
        b"POST /v1/batches HTTP/1.1\r\nHost: a\r\nContent-Length: " + b"9" * 23 + b"\r\n\r\n"
    ),
    "two hosts": b"GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n",
}


@pytest.fixture(scope="module")
def done_id(system: System) -> str:
    body = {"subjects": ["s-0", "s-1"], "features": [GENUINE, GENUINE]}
    accepted = system.ingest.post("/v1/batches", json=body, headers=AUTH).json()
    return str(system.done(accepted["batch_id"])["batch_id"])


@pytest.fixture(scope="module")
def ingest_port(system: System) -> Iterator[int]:
    with serve(system.ingest.app) as port:
        yield port


def test_the_corpus_is_large() -> None:
    assert len(CORPUS) + len(RAW) >= 300


def _check_error(status: int, content_type: str, body: bytes, method: str) -> None:
    assert status < 500
    if status < 400:
        return
    assert content_type == "application/problem+json", (status, content_type, body[:200])
    if method == "HEAD":
        return
    problem = json.loads(body)
    assert problem["status"] == status
    assert problem["type"].startswith("urn:svmflow:problem:")
    assert problem["title"]
    assert not problem["title"].endswith("Error")
    assert problem["detail"]


@pytest.mark.parametrize("case", CORPUS, ids=IDS)
def test_a_hostile_request_gets_a_4xx_problem_or_a_right_answer(
    system: System, done_id: str, case: Case
) -> None:
    client = system.ingest if case.api == "ingest" else system.predict
    response = client.request(
        case.method, case.path.replace("{done}", done_id), content=case.content, headers=case.headers
    )
    _check_error(
        response.status_code, response.headers.get("content-type", ""), response.content, case.method
    )
    if case.expect is not None:
        assert response.status_code in case.expect, (response.status_code, response.text[:300])


@pytest.mark.parametrize("name", list(RAW))
def test_hostile_framing_gets_a_4xx_problem_or_a_right_answer(ingest_port: int, name: str) -> None:
    answer: Answer = send_raw(ingest_port, RAW[name])
    _check_error(answer.status, answer.headers.get("content-type", ""), answer.body, "GET")
    # The server still serves everyone else.
    healthy = send_raw(ingest_port, b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    assert healthy.status == 200


def test_case_names_are_unique() -> None:
    assert len(set(IDS)) == len(CORPUS)
