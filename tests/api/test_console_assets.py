"""The vendored Swagger UI files are the locked npm package's, byte for byte."""

from __future__ import annotations

from pathlib import Path

from api.console import assets


def test_the_committed_swagger_ui_files_match_the_locked_package(tmp_path: Path) -> None:
    assets.fetch(tmp_path)
    for name in assets.FILES:
        assert (tmp_path / name).read_bytes() == (assets.SERVED / name).read_bytes(), name


def test_the_lock_pins_an_exact_version_with_an_integrity_hash() -> None:
    version, integrity = assets.locked()
    assert version.count(".") == 2
    assert integrity.startswith("sha512-")
