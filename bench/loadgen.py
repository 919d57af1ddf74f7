"""A bounded HTTP load generator for loopback servers.

The client is a few lines of asyncio over keep-alive HTTP/1.1 connections with requests encoded once,
so the generator spends far less CPU per request than the servers it measures; on a two-core machine a
heavier client (httpx, requests) would cap every server at its own speed and squeeze the ratios towards 1.

Two shapes of load:

* ``closed_loop``: ``concurrency`` connections each send the next request as soon as the previous answer
  arrived, until ``max_requests`` were sent or ``max_seconds`` passed. Measures throughput.
* ``open_loop``: requests start on a fixed schedule (``rate`` per second) whether or not earlier ones
  finished, and latency is measured from the scheduled start, so a stalled server cannot hide its
  queue by slowing the client down (coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

HOST = "127.0.0.1"


def encode_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None, port: int = 0
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, host: str = HOST) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
                break
        if length is None:  # every server measured here sends Content-Length; fail loudly otherwise
            raise ValueError(f"response without Content-Length: {head[:200]!r}")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()


class Pool:
    """Idle connections to one port; a new one is opened whenever none is idle (never waits)."""

    # uvicorn closes a connection after 5 s without a request; one idle longer is not reused.
    MAX_IDLE_SECONDS = 2.0

    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[tuple[Connection, float]] = []
        self.opened = 0

    async def _connection(self) -> Connection:
        while self.idle:
            connection, since = self.idle.pop()
            if time.perf_counter() - since < self.MAX_IDLE_SECONDS:
                return connection
            await connection.close()
        self.opened += 1
        return await Connection.open(self.port)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        connection = await self._connection()
        status, body = await connection.request(raw)
        self.idle.append((connection, time.perf_counter()))
        return status, body

    async def close(self) -> None:
        for connection, _ in self.idle:
            await connection.close()
        self.idle.clear()


@dataclass
class LoadResult:
    elapsed: float
    latencies: list[float] = field(default_factory=list)  # seconds, of the answers that arrived
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: list[bytes] = field(default_factory=list)  # kept only when asked for

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def per_second(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    def add(self, status: int, latency: float) -> None:
        self.latencies.append(latency)
        self.statuses[status] = self.statuses.get(status, 0) + 1


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (0 < q <= 100): an observed value, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


async def closed_loop(
    port: int,
    requests: Sequence[bytes],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
    keep_bodies: bool = False,
) -> LoadResult:
    """Send ``requests`` in turn (cycling) over ``concurrency`` connections until either bound is hit."""
    connections = [await Connection.open(port) for _ in range(concurrency)]
    result = LoadResult(elapsed=0.0)
    sent = 0
    start = time.perf_counter()
    deadline = start + max_seconds

    async def worker(connection: Connection) -> None:
        nonlocal sent
        while sent < max_requests and time.perf_counter() < deadline:
            raw = requests[sent % len(requests)]
            sent += 1
            began = time.perf_counter()
            status, body = await connection.request(raw)
            result.add(status, time.perf_counter() - began)
            if keep_bodies:
                result.bodies.append(body)

    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        result.elapsed = time.perf_counter() - start
        for connection in connections:
            await connection.close()
    return result


async def open_loop(
    rate: float,
    count: int,
    job: Callable[[int, float], Awaitable[None]],
) -> float:
    """Start ``job(i, scheduled_start)`` at ``start + i / rate`` for i in range(count), each as its own
    task, and wait for all of them; returns the wall time. ``scheduled_start`` is a ``perf_counter``
    value: measure latency from it, not from when the task happened to run."""
    start = time.perf_counter() + 0.01
    tasks = []
    for i in range(count):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(job(i, scheduled)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - start
