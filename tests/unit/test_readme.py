"""The README's configuration table names every setting there is, with the default the code uses."""

from __future__ import annotations

import re
from pathlib import Path

from svmflow import config_table
from svmflow.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _configuration_rows() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Configuration") :]
    section = section[: section.index("\n## ", 1)]
    rows = re.findall(r"^\| `([A-Z_]+)` \| ([^|]*?) \|", section, flags=re.MULTILINE)
    return {name: default.strip().strip("`") for name, default in rows}


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    rows = _configuration_rows()
    defaults = Settings()
    for name in Settings.model_fields:
        variable = f"SVMFLOW_{name.upper()}"
        assert variable in rows, f"{variable} is missing from the README's configuration table"
        value = getattr(defaults, name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            assert rows[variable] == f"{value:g}" or rows[variable] == str(value), variable
        elif isinstance(value, str) and value:
            assert rows[variable] == value, variable


def test_the_ports_make_run_listens_on_are_documented() -> None:
    rows = _configuration_rows()
    for variable in ("SVMFLOW_INGEST_PORT", "SVMFLOW_PREDICT_PORT", "SVMFLOW_EMBEDDED_REDIS_PORT", "PORT"):
        assert variable in rows


def test_the_readme_table_is_the_one_generated_from_the_settings() -> None:
    text = README.read_text()
    assert config_table.table() in text, "run `.venv/bin/python -m svmflow.config_table` to regenerate it"
    assert config_table.replace_table(text) == text


def test_every_setting_is_described() -> None:
    for name, info in Settings.model_fields.items():
        assert info.description, f"{name} has no description"
