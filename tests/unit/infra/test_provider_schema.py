"""Every resource, argument, block and attribute reference in infra/ exists in the provider schema."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import hcl2

from tests.unit.infra import schema_check
from tests.unit.infra.terraform_model import _OPTIONS, INFRA


def broken_copy(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    copy = tmp_path / "infra"
    shutil.copytree(INFRA, copy, ignore=shutil.ignore_patterns(".terraform", "scripts", "ci", "environments"))
    path = copy / filename
    text = path.read_text()
    assert old in text, f"{old!r} not in {filename}: update the test"
    path.write_text(text.replace(old, new, 1))
    return copy


def test_infra_matches_the_provider_schemas() -> None:
    assert schema_check.check() == []


def test_the_schemas_cover_the_locked_providers() -> None:
    schemas = schema_check.schemas()
    assert set(schemas) == {"google", "google-beta", "random", "time"}
    with (INFRA / ".terraform.lock.hcl").open() as handle:
        lock = hcl2.load(handle, serialization_options=_OPTIONS)
    locked = {
        source.strip('"').rsplit("/", 1)[-1]: body["version"]
        for block in lock["provider"]
        for source, body in block.items()
    }
    for provider, schema in schemas.items():
        # The schema may be older than the lock within one major version: providers only add
        # arguments in minor releases, so what passes here exists in the locked version.
        schema_version = tuple(int(n) for n in schema["version"].split("."))
        locked_version = tuple(int(n) for n in locked[provider].split("."))
        assert schema_version[0] == locked_version[0], provider
        assert schema_version <= locked_version, provider
    assert (
        "invoker_iam_disabled" in schemas["google"]["resources"]["google_cloud_run_v2_service"]["arguments"]
    )


def test_every_type_used_is_in_the_trimmed_schemas() -> None:
    spec = importlib.util.spec_from_file_location("regenerate", schema_check.SCHEMAS / "regenerate.py")
    assert spec is not None
    assert spec.loader is not None
    regenerate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(regenerate)
    used = regenerate.used_types()
    schemas = schema_check.schemas()
    assert "google_project_service_identity" in used["resources"]
    for kind in used["resources"]:
        assert any(kind in s["resources"] for s in schemas.values()), kind
    for kind in used["data_sources"]:
        assert any(kind in s["data_sources"] for s in schemas.values()), kind


def test_a_misspelt_argument_fails(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "run.tf", "invoker_iam_disabled =", "invoker_iam_disable =")
    assert schema_check.check(copy) == [
        "run.tf: google_cloud_run_v2_service.api: invoker_iam_disable is not an argument of this type"
    ]


def test_a_misspelt_nested_argument_fails(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "data.tf", "retained_backups =", "retained_backup =")
    assert schema_check.check(copy) == [
        "data.tf: google_sql_database_instance.db.settings.backup_configuration.backup_retention_settings: "
        "retained_backup is not an argument of this type"
    ]


def test_a_misspelt_dynamic_block_fails(tmp_path: Path) -> None:
    copy = broken_copy(tmp_path, "functions.tf", 'dynamic "secret_volumes"', 'dynamic "secret_volume"')
    assert schema_check.check(copy) == [
        "functions.tf: google_cloudfunctions2_function.processor.service_config: "
        "dynamic block secret_volume is not a block of this type"
    ]


def test_a_misspelt_attribute_reference_fails(tmp_path: Path) -> None:
    copy = broken_copy(
        tmp_path, "pubsub.tf", "service_config[0].uri}/projects", "service_config[0].url}/projects"
    )
    assert schema_check.check(copy) == [
        "pubsub.tf: google_cloudfunctions2_function.processor[each.key].service_config[0].url names url, "
        "which this type does not have"
    ]


def test_an_unknown_resource_type_fails(tmp_path: Path) -> None:
    copy = broken_copy(
        tmp_path, "audit.tf", '"google_project_iam_audit_config"', '"google_project_audit_config"'
    )
    problems = schema_check.check(copy)
    assert (
        "audit.tf: google_project_audit_config.storage: no google_project_audit_config in the google provider"
        in problems
    )
