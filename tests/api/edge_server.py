"""Both APIs served by uvicorn with the project's HTTP protocol on loopback ports, and a raw-socket client
that can send what no HTTP library would (broken framing, one byte a second, a hang-up mid-body)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import uvicorn

from api.server import uvicorn_options
from devstack.processes import free_port
from tests.http_servers import running

# Short, so the tests of the deadline take seconds; the shipped default is api.server's.
REQUEST_TIMEOUT = 2.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def problem(self) -> dict[str, Any]:
        assert self.headers.get("content-type") == "application/problem+json", (self.status, self.headers)
        problem: dict[str, Any] = json.loads(self.body)
        assert problem["status"] == self.status
        return problem


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    assert lines[0].startswith("HTTP/1.1 "), raw[:200]
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = body[: int(headers["content-length"])]
    return Answer(status, headers, body)


def send_raw(port: int, data: bytes, *, timeout: float = 15.0) -> Answer:
    """Send ``data`` at once and read the answer until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.sendall(data)
        return parse(read_all(conn))


def send_slowly(
    port: int, data: bytes, *, interval: float = 1.0, timeout: float = 30.0
) -> tuple[Answer, float]:
    """Send ``data`` a byte per ``interval`` until the server answers: the answer and the seconds it took."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        conn.settimeout(interval)
        for byte in data:
            try:
                conn.sendall(bytes([byte]))
            except OSError:
                break
            try:
                first = conn.recv(65536)
            except TimeoutError:
                continue
            conn.settimeout(timeout)
            return parse(first + read_all(conn)), time.monotonic() - started
        conn.settimeout(timeout)
        return parse(read_all(conn)), time.monotonic() - started


def read_all(conn: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = conn.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@contextmanager
def serve(app: Any, request_timeout: float = REQUEST_TIMEOUT) -> Iterator[int]:
    """Serve ``app`` as `svmflow run` and the container do; yields the port."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="off",
        **uvicorn_options(request_timeout),
    )
    with running(config):
        yield port
