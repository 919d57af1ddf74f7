"""Child processes that are always stopped: each in its own process group, ended as a group.

Servers such as the Pub/Sub emulator (a shell script that starts Java) or gunicorn (an arbiter and its
workers) leave children behind when only the parent is killed, so a child is started with
``start_new_session=True`` and stopped with ``killpg``. Every running child is also stopped at interpreter
exit and on SIGTERM/SIGHUP, so an interrupted run leaves nothing listening.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, TypedDict

import psutil

log = logging.getLogger(__name__)


class ProcessError(RuntimeError):
    """A child could not start, or stopped when it should be serving."""


class RunAs(TypedDict, total=False):
    """The user a child runs as, for a server that refuses root (subprocess's keyword arguments)."""

    user: int
    group: int
    extra_groups: list[int]


class PortTakenError(ProcessError):
    """The child's port answers, but another process listens on it: the child could never bind it."""


# Every port free_port has handed out in this process. The kernel may offer a port again once its probe
# socket is closed, and two servers of one stack given the same port look like one: the second fails to
# bind while the first answers for both (two push subscriptions then deliver to one function).
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, and that no earlier call in this process returned."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        with _handed_out_lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port


def listens_on(root_pid: int, port: int) -> bool | None:
    """Whether ``root_pid`` or one of its descendants listens on ``port``; None when that cannot be
    read (a process of another user, say)."""
    try:
        root = psutil.Process(root_pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    unreadable = False
    for proc in tree:
        try:
            connections = proc.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        except psutil.AccessDenied:
            unreadable = True
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port for c in connections):
            return True
    return None if unreadable else False


def port_holder(port: int) -> str:
    """Who listens on ``port``, for an error message."""
    with contextlib.suppress(psutil.AccessDenied):
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                with contextlib.suppress(psutil.Error):
                    return f"pid {c.pid} ({' '.join(psutil.Process(c.pid).cmdline())[:200]})"
                return f"pid {c.pid}"
    return "an unknown process"


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


class Child:
    """One server in its own process group, its output in ``log_path``."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        port: int | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.log_path = log_path
        self.env = dict(os.environ if env is None else env)
        self.cwd = cwd
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None
        self.popen_kwargs: RunAs = {}
        self._log: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 (arguments are built by this package)
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            **self.popen_kwargs,
        )
        _register(self)
        log.debug("started %s (pid %d): %s", self.name, self.process.pid, " ".join(self.args))
        return self

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout: float = 60.0, check: Callable[[], bool] | None = None) -> None:
        """Until the port accepts connections (or ``check`` passes); fails early if the child exits.

        An open port only counts when the child listens on it: otherwise what answers is another
        server (of this stack, or of another run on the machine), and ``PortTakenError`` says which."""
        ready = check or self._listening
        deadline = time.monotonic() + timeout
        while not ready():
            if not self.running():
                raise ProcessError(f"{self.name} exited early; its output:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise ProcessError(f"{self.name} not ready after {timeout:.0f}s; its output:\n{self.tail()}")
            time.sleep(0.05)

    def _listening(self) -> bool:
        if self.port is None or self.process is None or not port_open(self.port):
            return False
        # Unreadable (another user's child): the open port is all there is to go on.
        if listens_on(self.process.pid, self.port) is False:
            holder = port_holder(self.port)
            raise PortTakenError(f"{self.name} cannot listen on port {self.port}: {holder} does")
        return True

    def stop(self, grace: float = 5.0, sig: int = signal.SIGTERM) -> None:
        """Signal the whole group, wait, then SIGKILL whatever is left of it."""
        process = self.process
        if process is None:
            return
        pgid = process.pid  # the leader of its own session, so its pid is the group id
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
        # The leader may be gone while its children linger (a launcher script and its JVM).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(grace)
        _wait_group_gone(pgid, grace)
        if self._log is not None:
            self._log.close()
            self._log = None
        _unregister(self)
        log.debug("stopped %s", self.name)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])


def _wait_group_gone(pgid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        except PermissionError:  # pragma: no cover (a reused id owned by someone else)
            return
        time.sleep(0.02)


_running: dict[int, Child] = {}
_running_lock = threading.Lock()
_handlers_installed = False


def _register(child: Child) -> None:
    global _handlers_installed
    with _running_lock:
        _running[id(child)] = child
        if not _handlers_installed:
            atexit.register(stop_all)
            _install_signal_handlers()
            _handlers_installed = True


def _unregister(child: Child) -> None:
    with _running_lock:
        _running.pop(id(child), None)


def running_children() -> list[Child]:
    with _running_lock:
        return list(_running.values())


def stop_all() -> None:
    """Stop every child this process started and has not stopped yet, newest first."""
    for child in reversed(running_children()):
        with contextlib.suppress(Exception):
            child.stop(grace=3.0)


def _install_signal_handlers() -> None:
    # Signal handlers can only be set from the main thread; elsewhere atexit is the safety net.
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        previous = signal.getsignal(sig)

        def handler(signum: int, frame: object, previous: object = previous) -> None:
            stop_all()
            if callable(previous):
                previous(signum, frame)
            else:
                raise SystemExit(128 + signum)

        with contextlib.suppress(ValueError):
            signal.signal(sig, handler)
