"""The Pub/Sub emulator's own push latency: the floor under the emulated end-to-end figure.

A message is published with the real client to a topic whose push subscription points at a bare
socket server that does nothing but timestamp arrivals and answer 200. The time from publish to the
push's arrival is what one hop costs before any handler runs; a batch crosses two hops before it is
pollable (prediction-requests -> prediction, predictions -> prediction_to_cache).
"""

from __future__ import annotations

import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import markdown_table, write_json
from devstack.processes import free_port
from devstack.pubsub_emulator import emulator

SAMPLES = 30
PROJECT, TOPIC, SUBSCRIPTION = "bench-project", "push-floor", "push-floor-sub"


class _Endpoint:
    """A socket server that answers every HTTP request with 200 and records when each one arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while chunk := conn.recv(65536):
                buffer += chunk
                head, sep, body = buffer.partition(b"\r\n\r\n")
                if not sep:
                    continue
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                if len(body) >= length:
                    self.arrivals.append(time.perf_counter())
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                    buffer = b""

    def close(self) -> None:
        self._server.close()


def run(workdir: Path) -> dict[str, Any]:
    endpoint = _Endpoint()
    port = free_port()
    child = emulator(port, workdir).start()
    try:
        child.wait_ready(90)
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{port}"
        from google.cloud import pubsub_v1

        publisher = pubsub_v1.PublisherClient(pubsub_v1.types.BatchSettings(max_latency=0.001))
        subscriber = pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(PROJECT, TOPIC)
        publisher.create_topic(name=topic)
        subscriber.create_subscription(
            name=subscriber.subscription_path(PROJECT, SUBSCRIPTION),
            topic=topic,
            push_config={
                "push_endpoint": f"http://127.0.0.1:{endpoint.port}/projects/{PROJECT}/topics/{TOPIC}"
            },
        )
        hops = []
        for index in range(SAMPLES + 3):
            seen = len(endpoint.arrivals)
            started = time.perf_counter()
            publisher.publish(topic, b"x" * 300).result(timeout=30)
            deadline = started + 10
            while len(endpoint.arrivals) == seen and time.perf_counter() < deadline:
                time.sleep(0.0005)
            if index >= 3 and len(endpoint.arrivals) > seen:  # the first pushes open connections
                hops.append((endpoint.arrivals[seen] - started) * 1000)
            time.sleep(0.05)
    finally:
        child.stop()
        endpoint.close()
        os.environ.pop("PUBSUB_EMULATOR_HOST", None)
    hop_p50 = statistics.median(hops)
    return {
        "benchmark": "emulator_push",
        "samples": len(hops),
        "hop_ms": {"p50": hop_p50, "min": min(hops), "max": max(hops)},
        "two_hops_p50_ms": 2 * hop_p50,
        "ratio_to_e2e_goal_p50": 2 * hop_p50 / 100.0,
    }


def table(payload: dict[str, Any]) -> str:
    hop = payload["hop_ms"]
    return markdown_table(
        ["one push hop p50 ms", "min", "max", "two hops p50 ms", "two hops / e2e p50 goal (100 ms)"],
        [
            [
                f"{hop['p50']:.1f}",
                f"{hop['min']:.1f}",
                f"{hop['max']:.1f}",
                f"{payload['two_hops_p50_ms']:.1f}",
                f"{payload['ratio_to_e2e_goal_p50']:.2f}",
            ]
        ],
    )


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        payload = run(Path(tmp))
    write_json("emulator_push", payload)
    print(table(payload))
    return payload


if __name__ == "__main__":
    main()
