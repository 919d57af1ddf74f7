"""Regenerate the trimmed provider schemas in this folder from the CDK for Terraform bindings.

The prebuilt CDKTF provider packages on PyPI carry each provider's schema as a jsii assembly:
one class per resource and data source, one struct per block, every argument documented with
its Terraform name. This script reads those assemblies straight from the wheels (nothing is
imported or installed) and keeps the resource and data source types infra/ uses.

    python3 -m pip download --no-deps -d /tmp/cdktf \\
        cdktf-cdktf-provider-google==14.36.0 cdktf-cdktf-provider-google-beta==14.36.0 \\
        cdktf-cdktf-provider-random==12.0.1 cdktf-cdktf-provider-time==11.0.1
    .venv/bin/python tests/unit/infra/provider_schema/regenerate.py /tmp/cdktf/*.whl

Those packages (about 50 MB each) are not project dependencies: only their output is kept.
Add a resource type to infra/ and the schema check fails until this is run again.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
INFRA = REPO / "infra"

_REPRESENTS = re.compile(
    r"Represents a \{@link https://registry\.terraform\.io/providers/hashicorp/(?P<provider>[\w-]+)/"
    r"(?P<version>[\d.]+)/docs/(?P<kind>resources|data-sources)/\w+ (?P<type>\w+)\}"
)
_ANCHOR = re.compile(r"/docs/(?:resources|data-sources)/\w+#(?P<name>\w+) ")


def assembly(wheel: Path) -> dict[str, Any]:
    with zipfile.ZipFile(wheel) as archive:
        inner = next(n for n in archive.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(archive.read(inner))) as tar:
            member = tar.extractfile("package/.jsii")
            assert member is not None
            return json.load(member)


def snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


def _struct_fqns(type_ref: dict[str, Any], types: dict[str, Any]) -> list[str]:
    """The structs (blocks) a property's type refers to, however it is wrapped."""
    found: list[str] = []
    if "fqn" in type_ref and types.get(type_ref["fqn"], {}).get("datatype"):
        found.append(type_ref["fqn"])
    for inner in type_ref.get("union", {}).get("types", []):
        found += _struct_fqns(inner, types)
    if "collection" in type_ref:
        found += _struct_fqns(type_ref["collection"]["elementtype"], types)
    return found


def _computed(fqn: str, types: dict[str, Any]) -> list[str]:
    """Read-only attributes: the getters of the block's (or resource's) reference class."""
    names = set()
    for candidate in (fqn, f"{fqn}OutputReference"):
        for prop in types.get(candidate, {}).get("properties", []):
            name = prop["name"]
            if name.endswith("Input") or name in {"internalValue", "tfResourceType", "fqn"}:
                continue
            if prop.get("static") or prop.get("protected"):
                continue
            names.add(snake(name))
    return sorted(names)


def block(fqn: str, types: dict[str, Any], attributes_of: str) -> dict[str, Any]:
    arguments: set[str] = set()
    blocks: dict[str, Any] = {}
    for prop in types[fqn].get("properties", []):
        anchor = _ANCHOR.search(prop.get("docs", {}).get("remarks", "") + " ")
        name = anchor.group("name") if anchor else snake(prop["name"])
        nested = _struct_fqns(prop["type"], types)
        if nested:
            blocks[name] = block(nested[0], types, nested[0])
        else:
            arguments.add(name)
    computed = set(_computed(attributes_of, types)) - arguments - set(blocks)
    return {"arguments": sorted(arguments), "attributes": sorted(computed), "blocks": blocks}


def used_types(infra: Path = INFRA) -> dict[str, set[str]]:
    """Resource and data source types in infra/*.tf, read from the text (no HCL library needed)."""
    text = "\n".join(p.read_text() for p in sorted(infra.glob("*.tf")))
    return {
        "resources": set(re.findall(r'^resource\s+"(\w+)"', text, flags=re.MULTILINE)),
        "data_sources": set(re.findall(r'^data\s+"(\w+)"', text, flags=re.MULTILINE)),
    }


def schema_of(wheel: Path, wanted: dict[str, set[str]]) -> tuple[str, dict[str, Any]]:
    types = assembly(wheel)["types"]
    provider, version = "", ""
    out: dict[str, Any] = {"resources": {}, "data_sources": {}}
    for fqn, spec in types.items():
        match = _REPRESENTS.search(spec.get("docs", {}).get("summary", ""))
        if not match or spec.get("kind") != "class":
            continue
        provider, version = match.group("provider"), match.group("version")
        kind = "resources" if match.group("kind") == "resources" else "data_sources"
        if match.group("type") in wanted[kind] and f"{fqn}Config" in types:
            out[kind][match.group("type")] = block(f"{fqn}Config", types, fqn)
    return provider, {"version": version, **out}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", nargs="+", type=Path, help="cdktf-cdktf-provider-* wheels")
    args = parser.parse_args(argv)
    wanted = used_types()
    for wheel in args.wheels:
        provider, schema = schema_of(wheel, wanted)
        path = HERE / f"{provider}.json"
        path.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
        found = len(schema["resources"]) + len(schema["data_sources"])
        print(f"{path.relative_to(REPO)}: {provider} {schema['version']}, {found} types")
    return 0


if __name__ == "__main__":
    sys.exit(main())
