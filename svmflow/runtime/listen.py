"""Before `svmflow run` starts anything: every port it will listen on is free, or one line says which
port is taken and which setting moves it (instead of a bind traceback after the first model trained)."""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass

from svmflow.config import Settings


@dataclass(frozen=True)
class Listener:
    what: str
    host: str
    port: int
    variable: str
    option: str | None = None

    def moved_by(self) -> str:
        return f"{self.variable} or {self.option}" if self.option else self.variable


class PortUnavailableError(Exception):
    """A port `svmflow run` needs cannot be listened on; the message is the one line to print."""


def listeners(settings: Settings) -> list[Listener]:
    found = [
        Listener(
            "ingest API", settings.api_host, settings.ingest_port, "SVMFLOW_INGEST_PORT", "--ingest-port"
        ),
        Listener(
            "predict API", settings.api_host, settings.predict_port, "SVMFLOW_PREDICT_PORT", "--predict-port"
        ),
    ]
    if not settings.redis_url:
        # The Redis stand-in that the CLI's other commands reach over TCP.
        found.append(
            Listener(
                "embedded Redis", "127.0.0.1", settings.embedded_redis_port, "SVMFLOW_EMBEDDED_REDIS_PORT"
            )
        )
    return found


def check_free(settings: Settings) -> None:
    """Raise ``PortUnavailableError`` naming the first port that is taken, twice used or not bindable."""
    seen: dict[int, Listener] = {}
    for listener in listeners(settings):
        other = seen.setdefault(listener.port, listener)
        if other is not listener:
            raise PortUnavailableError(
                f"the {other.what} and the {listener.what} are both set to port {listener.port}; "
                f"give the {listener.what} another with {listener.moved_by()}"
            )
        _try_bind(listener)


def _try_bind(listener: Listener) -> None:
    try:
        infos = socket.getaddrinfo(listener.host, listener.port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PortUnavailableError(
            f"cannot listen on {listener.host!r} for the {listener.what}: {exc.strerror} "
            "(set SVMFLOW_API_HOST or --host)"
        ) from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        # As the servers themselves bind: a port in TIME_WAIT after a restart is free to them.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                reason = "is already in use"
            elif exc.errno == errno.EACCES:
                reason = "needs privileges this user does not have"
            else:
                reason = f"cannot be listened on ({exc.strerror})"
            raise PortUnavailableError(
                f"port {listener.port} ({listener.what}, {listener.host}) {reason}; "
                f"stop what holds it or choose another port with {listener.moved_by()}"
            ) from exc
