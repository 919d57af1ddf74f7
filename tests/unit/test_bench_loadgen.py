"""The load generator stops by itself and counts what it sent (the benchmarks trust these numbers)."""

from __future__ import annotations

import asyncio
import time

from bench import loadgen


async def _serve(handler_delay: float = 0.0) -> tuple[asyncio.Server, int, list[bytes]]:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                seen.append(await reader.readexactly(length))
                await asyncio.sleep(handler_delay)
                writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, loadgen.HOST, 0)
    return server, server.sockets[0].getsockname()[1], seen


def test_closed_loop_stops_at_the_request_bound() -> None:
    async def scenario() -> tuple[loadgen.LoadResult, list[bytes]]:
        server, port, seen = await _serve()
        raws = [loadgen.encode_request("POST", "/x", body, port=port) for body in (b"a", b"bb")]
        async with server:
            result = await loadgen.closed_loop(
                port, raws, concurrency=3, max_requests=25, max_seconds=10, keep_bodies=True
            )
        return result, seen

    result, seen = asyncio.run(scenario())
    assert result.count == 25
    assert result.statuses == {202: 25}
    assert set(result.bodies) == {b"ok"}
    assert sorted(set(seen)) == [b"a", b"bb"]


def test_closed_loop_stops_at_the_time_bound() -> None:
    async def scenario() -> loadgen.LoadResult:
        server, port, _ = await _serve(handler_delay=0.05)
        async with server:
            raw = loadgen.encode_request("POST", "/x", b"{}", port=port)
            return await loadgen.closed_loop(port, [raw], concurrency=2, max_requests=10**6, max_seconds=0.3)

    result = asyncio.run(scenario())
    assert 0 < result.count < 30
    assert result.elapsed < 1.0


def test_open_loop_keeps_its_schedule_when_requests_are_slow() -> None:
    starts: list[float] = []

    async def job(i: int, scheduled: float) -> None:
        starts.append(time.perf_counter() - scheduled)
        await asyncio.sleep(0.2)  # far longer than the interval: an open loop does not wait for it

    elapsed = asyncio.run(loadgen.open_loop(50.0, 10, job))
    assert len(starts) == 10
    assert max(starts) < 0.05
    assert elapsed < 0.2 + 10 / 50 + 0.15


def test_percentile_is_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert loadgen.percentile(values, 50) == 50.0
    assert loadgen.percentile(values, 99) == 99.0
    assert loadgen.percentile([3.0], 99) == 3.0
