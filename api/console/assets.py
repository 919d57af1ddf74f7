"""Swagger UI's browser assets, vendored from the npm registry so no user runs a build step.

``vendor/package.json`` and ``vendor/package-lock.json`` pin the package and its integrity hash;
``python -m api.console.assets`` fetches that exact tarball (``npm pack``), checks it against the lock's
hash and copies the few files /docs serves into ``vendor/swagger-ui/``. A test does the same into a
temporary folder and compares, so the committed files are the locked package's, byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent / "vendor"
SERVED = VENDOR / "swagger-ui"
PACKAGE = "swagger-ui-dist"
FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css", "LICENSE")


def locked() -> tuple[str, str]:
    """The locked version and integrity (``sha512-<base64>``) of the package."""
    lock = json.loads((VENDOR / "package-lock.json").read_text())
    entry = lock["packages"][f"node_modules/{PACKAGE}"]
    return entry["version"], entry["integrity"]


def fetch(into: Path) -> None:
    """Download the locked tarball, check its hash, and extract the served files into ``into``."""
    version, integrity = locked()
    algorithm, _, expected = integrity.partition("-")
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603 (fixed arguments)
            ["npm", "pack", f"{PACKAGE}@{version}", "--silent", "--pack-destination", tmp],  # noqa: S607
            check=True,
            capture_output=True,
        )
        (tarball,) = Path(tmp).glob("*.tgz")
        digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
        if digest != expected:
            raise RuntimeError(f"{tarball.name} does not match the integrity hash in package-lock.json")
        into.mkdir(parents=True, exist_ok=True)
        with tarfile.open(tarball) as archive:
            for name in FILES:
                member = archive.extractfile(f"package/{name}")
                assert member is not None
                (into / name).write_bytes(member.read())


def main() -> None:
    shutil.rmtree(SERVED, ignore_errors=True)
    fetch(SERVED)
    print(f"copied {len(FILES)} files of {PACKAGE} {locked()[0]} into {SERVED}")


if __name__ == "__main__":
    main()
