"""Private Redis and PostgreSQL servers on free ports, for runs that must stop and restart them.

The machine's shared servers are left alone: an outage test stops its own server, and its own
PostgreSQL can require a password (the shared one trusts every local connection), which is how a test
proves that the password from the secrets port is the one that connects.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.processes import Child, ProcessError, RunAs, port_open

if TYPE_CHECKING:
    import psycopg


def _find(name: str, *extra: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for pattern in extra:
        matches = sorted(glob.glob(pattern), reverse=True)  # the highest version first
        if matches:
            return matches[0]
    raise ProcessError(f"{name} is not installed (Debian: apt-get install {_PACKAGES.get(name, name)})")


_PACKAGES = {"redis-server": "redis-server", "postgres": "postgresql", "initdb": "postgresql"}


class PrivateRedis:
    """A redis-server that keeps its data across a stop and a start, like a managed instance."""

    def __init__(self, port: int, data_dir: Path, log_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.child: Child | None = None
        data_dir.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        # No save points: the data is written once, on the way down (see ``stop``).
        args = [_find("redis-server"), "--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.data_dir), "--protected-mode", "no"]
        args += ["--shutdown-on-sigterm", "save"]
        self.child = Child("redis", args, log_path=self.log_dir / "redis.log", port=self.port).start()
        self.child.wait_ready(20)

    def stop(self) -> None:
        """SIGTERM makes redis-server save its data set before it exits (``shutdown-on-sigterm save``),
        so a restart has the same keys."""
        if self.child is not None:
            self.child.stop(grace=10)
            self.child = None


class PrivatePostgres:
    """A PostgreSQL cluster in a folder of its own that requires a password over TCP."""

    def __init__(self, port: int, data_dir: Path, log_dir: Path, password: str) -> None:
        self.port = port
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.password = password
        self.child: Child | None = None
        # PostgreSQL refuses to run as root; on a root-owned machine the cluster belongs to `postgres`.
        self._user = "postgres" if os.geteuid() == 0 else None

    def url(self, database: str, user: str = "postgres") -> str:
        """Without the password: it comes from the secrets port, as in production."""
        return f"postgresql+psycopg://{user}@127.0.0.1:{self.port}/{database}"

    def _run_as(self) -> RunAs:
        if self._user is None:
            return {}
        entry = pwd.getpwnam(self._user)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def init(self) -> None:
        bindir = "/usr/lib/postgresql/*/bin/"
        initdb = _find("initdb", bindir + "initdb")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir.parent / "pg-password"
        pwfile.write_text(self.password)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (self.data_dir, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            os.chmod(self.data_dir.parent, 0o755)  # noqa: S103 (the server runs as another user)
        try:
            subprocess.run(  # noqa: S603 (a fixed command)
                [
                    initdb,
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--no-sync",
                    "--no-instructions",
                ],
                check=True,
                capture_output=True,
                timeout=120,
                **self._run_as(),
            )
        except subprocess.CalledProcessError as exc:
            raise ProcessError(f"initdb failed: {exc.stderr.decode(errors='replace')}") from exc
        finally:
            pwfile.unlink(missing_ok=True)

    def start(self) -> None:
        postgres = _find("postgres", "/usr/lib/postgresql/*/bin/postgres")
        args = [postgres, "-D", str(self.data_dir), "-p", str(self.port), "-k", str(self.data_dir)]
        # A throwaway cluster: durability settings off, for speed.
        for setting in ("listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off"):
            args += ["-c", setting]
        args += ["-c", "full_page_writes=off", "-c", "max_connections=200"]
        log = self.log_dir / "postgres.log"
        self.child = Child("postgres", args, log_path=log, port=self.port)
        # The server writes its log through our file handle, so it needs no access to the log folder.
        self.child.popen_kwargs = self._run_as()
        self.child.start()
        self.child.wait_ready(30, check=self._accepting)

    def _accepting(self) -> bool:
        if not port_open(self.port):
            return False
        import psycopg

        try:
            psycopg.connect(
                host="127.0.0.1", port=self.port, user="postgres", password=self.password, dbname="postgres"
            ).close()
        except psycopg.OperationalError:
            return False
        return True

    def stop(self) -> None:
        """A fast shutdown (SIGINT): connected sessions are cut, as in a failover."""
        if self.child is not None:
            self.child.stop(grace=15, sig=signal.SIGINT)
            self.child = None

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.password,
            dbname=dbname,
            autocommit=True,
        )

    def create_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')


def wait_gone(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while port_open(port) and time.monotonic() < deadline:
        time.sleep(0.05)
