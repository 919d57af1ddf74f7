"""Fail unless this Python satisfies requires-python in pyproject.toml, lower and upper bound.

The Cloud Build test step runs it before anything is installed: uv is not allowed to download
an interpreter, so the image's Python must be one the project accepts.
    python3 infra/ci/check_python.py [--version X.Y.Z]
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)\s*$")


def requires_python(pyproject: Path = PYPROJECT) -> str:
    # Read with a regular expression: this runs on a bare interpreter, before any package is
    # installed, and tomllib is missing before 3.11 (where the answer must be a clear "no").
    match = re.search(r'^requires-python\s*=\s*"([^"]+)"', pyproject.read_text(), flags=re.MULTILINE)
    if not match:
        raise ValueError(f"{pyproject} has no requires-python")
    return match.group(1)


def _as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _compare(left: tuple[int, ...], right: tuple[int, ...]) -> int:
    width = max(len(left), len(right))
    a, b = left + (0,) * (width - len(left)), right + (0,) * (width - len(right))
    return (a > b) - (a < b)


def problems(version: str, specifier: str) -> list[str]:
    """Every clause of the specifier that the version breaks (empty: it satisfies them all)."""
    tests = {
        ">=": lambda c: c >= 0,
        ">": lambda c: c > 0,
        "<=": lambda c: c <= 0,
        "<": lambda c: c < 0,
        "==": lambda c: c == 0,
        "!=": lambda c: c != 0,
    }
    broken = []
    for clause in specifier.split(","):
        match = _CLAUSE.match(clause)
        if not match:
            raise ValueError(f"cannot read the requires-python clause {clause!r}")
        operator, bound = match.groups()
        if not tests[operator](_compare(_as_tuple(version), _as_tuple(bound))):
            broken.append(f"{operator}{bound}")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--version", help="the version to check (default: this interpreter's)")
    args = parser.parse_args(argv)
    version = args.version or ".".join(str(n) for n in sys.version_info[:3])
    specifier = requires_python()
    broken = problems(version, specifier)
    if broken:
        print(
            f"Python {version} does not satisfy requires-python {specifier!r} (breaks {', '.join(broken)}): "
            "use a build image with a Python the project supports",
            file=sys.stderr,
        )
        return 1
    print(f"Python {version} satisfies requires-python {specifier!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
