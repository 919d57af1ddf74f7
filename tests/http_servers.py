"""Real HTTP in tests: ASGI apps served by uvicorn on free loopback ports, and a proxy that injects
faults (503s before or after the request reaches the API) between a client and an API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx2
import msgspec
import uvicorn

from devstack.processes import free_port


@contextmanager
def running(config: uvicorn.Config) -> Iterator[int]:
    """Run uvicorn with ``config`` in a thread until the block ends; yields its port once it listens."""
    port = config.port
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"test-http-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), f"server on {port} did not start"
        assert time.monotonic() < deadline, f"server on {port} did not start in time"
        time.sleep(0.01)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free port for the duration; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_config=None, access_log=False, lifespan="off"
    )
    with running(config) as port:
        yield f"http://127.0.0.1:{port}"


@dataclass
class FaultPlan:
    """What to do to the next requests matching ``method`` and ``path``, one action each, in order:

    * ``"refuse"``: answer 503 with ``Retry-After`` without passing the request on;
    * ``"lose"``: pass it on, let the API act on it, then answer 503 instead (a lost answer).
    """

    method: str
    path: str
    actions: list[str]
    retry_after: str = "0"
    lost_answers: list[Any] = field(default_factory=list)
    seen: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def next_action(self, method: str, path: str) -> str:
        if method != self.method or path != self.path:
            return "pass"
        with self._lock:
            self.seen += 1
            return self.actions.pop(0) if self.actions else "pass"


class FaultyProxy:
    """An ASGI app that forwards every request to ``upstream`` and applies a ``FaultPlan``."""

    def __init__(self, upstream: str, plan: FaultPlan) -> None:
        self.upstream = upstream.rstrip("/")
        self.plan = plan

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        action = self.plan.next_action(scope["method"], scope["path"])
        if action == "refuse":
            await _answer(send, 503, b'{"status":503}', self.plan.retry_after)
            return
        query = scope.get("query_string", b"").decode()
        url = self.upstream + scope["path"] + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"] if k.lower() != b"host"]
        # A client per request: nothing outlives the server's event loop.
        async with httpx2.AsyncClient(timeout=60) as client:
            response = await client.request(scope["method"], url, content=body, headers=headers)
        if action == "lose":
            self.plan.lost_answers.append(msgspec.json.decode(response.content))
            await _answer(send, 503, b'{"status":503}', self.plan.retry_after)
            return
        skip = {"content-length", "transfer-encoding", "content-encoding", "connection"}
        await send(
            {
                "type": "http.response.start",
                "status": response.status_code,
                "headers": [
                    (k.encode(), v.encode()) for k, v in response.headers.items() if k.lower() not in skip
                ]
                + [(b"content-length", str(len(response.content)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": response.content})


async def _answer(send: Any, status: int, body: bytes, retry_after: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"retry-after", retry_after.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
