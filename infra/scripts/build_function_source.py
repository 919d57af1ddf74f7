"""Build the one source archive every Cloud Function is deployed from.

The archive holds main.py, the entry points (functions/), the core package, the seed data and a
requirements.txt exported from uv.lock (the Cloud Functions Python buildpack installs requirements.txt).
A build step rather than Terraform's archive_file: the requirements file does not exist in the
repository and archive_file cannot run uv. The zip is byte-for-byte reproducible (sorted
entries, fixed timestamps), so Terraform redeploys the functions only when the content changes.

    .venv/bin/python infra/scripts/build_function_source.py [--out build/function-source.zip]

It needs uv: the one ``make install`` put in place is found even when it is not on PATH.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "build" / "function-source.zip"
# What the functions import or read at run time; nothing else ships.
INCLUDED_FILES = ("main.py",)
INCLUDED_DIRS = ("functions", "svmflow", "data")
EXCLUDED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = frozenset({".pyc", ".pyo"})
FIXED_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


def archive_members(root: Path = REPO) -> list[str]:
    """Repository-relative paths that go into the archive, sorted (requirements.txt apart)."""
    members = [name for name in INCLUDED_FILES if (root / name).is_file()]
    for directory in INCLUDED_DIRS:
        for path in (root / directory).rglob("*"):
            relative = path.relative_to(root)
            if not path.is_file() or EXCLUDED_PARTS.intersection(relative.parts):
                continue
            if path.suffix in EXCLUDED_SUFFIXES:
                continue
            members.append(relative.as_posix())
    return sorted(members)


def find_uv() -> str:
    """The uv to export with: ``$UV`` (set by the Makefile, and by uv for what it runs), then PATH, then where
    ``make install`` puts it (``pip install --user``: ``~/.local/bin``), which a new shell may not have
    on PATH."""
    candidates = [os.environ.get("UV", ""), shutil.which("uv") or ""]
    candidates.append(str(Path.home() / ".local" / "bin" / "uv"))
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return candidate
    raise SystemExit("uv is not installed: run `make install` first (it installs uv into ~/.local/bin)")


def export_requirements(root: Path, destination: Path) -> None:
    uv = find_uv()
    # No header: it would name the temporary output path and break reproducibility.
    command = [uv, "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project"]
    command += ["--no-header", "--quiet", "-o", str(destination)]
    subprocess.run(command, cwd=root, check=True)  # noqa: S603 (fixed command, no shell)


def build(out: Path = DEFAULT_OUT, root: Path = REPO) -> str:
    """Write the archive to ``out`` and return its MD5 (what Terraform's filemd5 sees)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        requirements = Path(tmp) / "requirements.txt"
        export_requirements(root, requirements)
        entries = [(name, root / name) for name in archive_members(root)]
        entries.append(("requirements.txt", requirements))
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, path in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, path.read_bytes())
    return hashlib.md5(out.read_bytes(), usedforsecurity=False).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="zip to write")
    args = parser.parse_args(argv)
    digest = build(args.out.resolve())
    print(f"{args.out} md5={digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
