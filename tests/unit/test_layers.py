"""The import rules of pyproject.toml's [tool.importlinter] contract: layers only point down."""

from __future__ import annotations

import tomllib
from pathlib import Path

from importlinter.cli import lint_imports

import svmflow

ROOT = Path(__file__).resolve().parents[2]
# Test and development support lives outside the package (devstack/), so nothing is left out.
OUTSIDE_THE_LAYERS: set[str] = set()


def layered_modules() -> set[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [contract] = [c for c in config["contracts"] if c["type"] == "layers"]
    return {name.strip() for layer in contract["layers"] for name in layer.split("|")}


def test_no_import_runs_back_up_the_layers() -> None:
    assert lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0


def test_every_module_of_the_package_has_a_layer() -> None:
    """A new module must be placed in a layer, or the contract would not check it."""
    package = Path(svmflow.__file__).parent
    children = {
        path.stem if path.is_file() else path.name
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }
    layered = layered_modules()
    unplaced = {
        child
        for child in children - OUTSIDE_THE_LAYERS
        if f"svmflow.{child}" not in layered
        and not any(name.startswith(f"svmflow.{child}.") for name in layered)
    }
    assert unplaced == set()
