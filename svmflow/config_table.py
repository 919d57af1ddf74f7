"""The README's configuration table, generated from the settings' declarations in ``svmflow/config.py``.

    .venv/bin/python -m svmflow.config_table [README.md]   # rewrite the table in place

``tests/unit/test_readme.py`` fails when the README's table and this one differ.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from svmflow.config import Settings, variable

HEADER = ("| variable | default | meaning |", "| --- | --- | --- |")
# Read by other parts than the settings, documented beside them: name, default, meaning.
OTHER_VARIABLES = (
    (
        "PORT",
        "-",
        "`python -m api ingest\\|predict` (the container) listens here when set (Cloud Run sets it)",
    ),
    (
        "SVMFLOW_SECRET_API_KEYS",
        "`dev-local-key`",
        "outside GCP: the accepted API keys (comma-separated, for rotation)",
    ),
    ("SVMFLOW_SECRET_ID_SIGNING_KEY", "a local key", "outside GCP: the key batch ids are signed with"),
    ("SVMFLOW_SECRET_DB_PASSWORD", "empty", "outside GCP: the database password"),
)


def shown_default(name: str) -> str:
    """The default of setting ``name`` as the table shows it."""
    info = Settings.model_fields[name]
    extra = info.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value: Any = info.get_default(call_default_factory=True)
    if isinstance(value, bool) or value is None or value == "":
        return "-"
    if isinstance(value, int | float):
        return f"`{value:g}`"
    return f"`{value}`"


def rows() -> list[str]:
    settings = [
        (variable(name), shown_default(name), info.description or "")
        for name, info in Settings.model_fields.items()
    ]
    return [
        f"| `{name}` | {default} | {meaning} |" for name, default, meaning in [*settings, *OTHER_VARIABLES]
    ]


def table() -> str:
    return "\n".join([*HEADER, *rows()]) + "\n"


def replace_table(readme: str) -> str:
    """``readme`` with the table of its "## Configuration" section replaced by the generated one."""
    section = readme.index("## Configuration")
    start = readme.index(HEADER[0], section)
    end = readme.find("\n\n", start)
    end = len(readme) if end < 0 else end + 1
    return readme[:start] + table() + readme[end:]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0] if args else "README.md")
    path.write_text(replace_table(path.read_text()))
    print(f"{path}: configuration table written ({len(Settings.model_fields)} settings)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
