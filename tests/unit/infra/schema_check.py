"""infra/ checked against the providers' published schemas, with no provider download.

The schemas are the trimmed copies in provider_schema/ (see regenerate.py there). Every
resource and data source type must exist in its provider; every argument and nested block set
in infra/ must be one the schema has at that place; every reference to another resource's
attribute (google_x.name.attr, data.google_y.name.attr, and block paths such as
service_config[0].uri) must name an argument, block or computed attribute of that type.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2

from tests.unit.infra.terraform_model import _OPTIONS, INFRA

SCHEMAS = Path(__file__).resolve().parent / "provider_schema"
# Terraform's own meta-arguments and blocks, valid in every resource.
META = frozenset({"count", "for_each", "depends_on", "lifecycle", "provider", "connection", "provisioner"})
_REFERENCE = re.compile(
    r"(?<![\w.])(?P<data>data\.)?(?P<type>(?:google|random|time)_\w+)\.(?P<name>\w+)"
    r"(?:\[[^\]]*\])?(?P<path>(?:\.\w+(?:\[[^\]]*\])?)*)"
)


def schemas(directory: Path = SCHEMAS) -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))}


def _provider(kind: str, body: dict[str, Any]) -> str:
    explicit = body.get("provider")
    if isinstance(explicit, str):
        return explicit.split(".")[0].strip("${}")
    return kind.split("_")[0]


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list) and all(isinstance(item, dict) for item in value):
        return value
    return []


def check_body(where: str, body: dict[str, Any], schema: dict[str, Any], top: bool) -> list[str]:
    problems = []
    arguments, blocks = set(schema["arguments"]), schema["blocks"]
    for key, value in body.items():
        if key.startswith("__") or (top and key in META):
            continue
        if key == "dynamic":
            for dynamic in _blocks(value):
                for name, spec in dynamic.items():
                    if name not in blocks:
                        problems.append(f"{where}: dynamic block {name} is not a block of this type")
                        continue
                    for content in _blocks(spec.get("content")):
                        problems += check_body(f"{where}.{name}", content, blocks[name], top=False)
            continue
        if key in blocks:
            nested = _blocks(value)
            if not nested:
                problems.append(f"{where}: {key} is a block, not an argument")
            for item in nested:
                problems += check_body(f"{where}.{key}", item, blocks[key], top=False)
        elif key not in arguments:
            problems.append(f"{where}: {key} is not an argument of this type")
    return problems


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _path_problems(where: str, reference: str, path: list[str], schema: dict[str, Any]) -> list[str]:
    """Follow .a[0].b through blocks; stop at the first argument or computed attribute."""
    node = schema
    for step in path:
        if step in node["blocks"]:
            node = node["blocks"][step]
            continue
        if step in node["arguments"] or step in node["attributes"] or step == "id":
            return []
        return [f"{where}: {reference} names {step}, which this type does not have"]
    return []


def check(directory: Path = INFRA, provider_schemas: dict[str, dict[str, Any]] | None = None) -> list[str]:
    provider_schemas = provider_schemas or schemas()
    problems: list[str] = []
    declared: dict[tuple[bool, str, str], str] = {}
    documents = []
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        documents.append((path.name, parsed))
        for is_data, section in ((False, "resource"), (True, "data")):
            for block in parsed.get(section, []):
                for kind, named in block.items():
                    for name, body in named.items():
                        declared[(is_data, kind, name)] = _provider(kind, body)
                        schema = provider_schemas.get(declared[(is_data, kind, name)], {})
                        types = schema.get("data_sources" if is_data else "resources", {})
                        where = f"{path.name}: {'data.' if is_data else ''}{kind}.{name}"
                        if kind not in types:
                            problems.append(
                                f"{where}: no {kind} in the {declared[(is_data, kind, name)]} provider"
                            )
                            continue
                        problems += check_body(where, body, types[kind], top=True)
    for filename, parsed in documents:
        # moved blocks name addresses that no longer exist, on purpose.
        for text in _strings({k: v for k, v in parsed.items() if k != "moved"}):
            for expression in re.findall(r"\$\{(.*?)\}(?!\})", text, flags=re.DOTALL) or [text]:
                for match in _REFERENCE.finditer(expression):
                    is_data = bool(match.group("data"))
                    kind, name = match.group("type"), match.group("name")
                    reference = match.group(0)
                    key = (is_data, kind, name)
                    if key not in declared:
                        problems.append(f"{filename}: {reference} refers to an undeclared {kind}.{name}")
                        continue
                    schema = provider_schemas[declared[key]]["data_sources" if is_data else "resources"][kind]
                    path = [step.split("[")[0] for step in match.group("path").split(".") if step]
                    problems += _path_problems(filename, reference, path, schema)
    return sorted(set(problems))
