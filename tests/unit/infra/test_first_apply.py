"""What a first apply on a new project, a CI deploy and a teardown need, checked on the parsed HCL."""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

from tests.unit.infra import terraform_model as model
from tests.unit.infra.test_terraform import mutated


@pytest.fixture(scope="module")
def tf() -> model.Terraform:
    return model.load()


def test_function_builds_may_read_the_gcf_v2_sources_bucket_only(tf: model.Terraform) -> None:
    grant = tf.resource("google_project_iam_member", "function_build_sources")
    assert grant["role"] == "roles/storage.objectViewer"
    assert grant["member"] == "serviceAccount:${google_service_account.function_build.email}"
    condition = model.first(grant["condition"])
    bucket = "gcf-v2-sources-${data.google_project.this.number}-${var.region}"
    assert tf.locals["gcf_sources_bucket"] == bucket
    assert condition["expression"] == (
        'resource.name.startsWith("projects/_/buckets/${local.gcf_sources_bucket}")'
    )
    build = model.first(tf.resource("google_cloudfunctions2_function", "processor")["build_config"])
    assert build["service_account"] == "${google_service_account.function_build.id}"


def test_functions_wait_for_iam_propagation(tf: model.Terraform) -> None:
    wait = tf.resource("time_sleep", "build_iam_propagation")
    assert int(wait["create_duration"].rstrip("s")) >= 60
    triggers = str(wait["triggers"])
    for grant in (
        "google_project_iam_member.function_build_sources",
        "google_project_iam_member.function_build.",
        "google_artifact_registry_repository_iam_member.function_build_writer",
        "google_storage_bucket_iam_member.function_build_source",
    ):
        assert grant in triggers, grant
    functions = tf.resource("google_cloudfunctions2_function", "processor")
    assert "${time_sleep.build_iam_propagation}" in functions["depends_on"]
    providers = (model.INFRA / "versions.tf").read_text()
    assert re.search(r'time\s*=\s*{\s*source\s*=\s*"hashicorp/time"', providers)


def test_public_apis_need_no_all_users_binding(tf: model.Terraform) -> None:
    api = tf.resource("google_cloud_run_v2_service", "api")
    assert api["invoker_iam_disabled"] == "${var.allow_public_apis}"
    assert tf.default("allow_public_apis") is True
    for kind, name, body in tf.all_resources():
        members = {body.get("member", "")} | set(body.get("members", []))
        assert not members & model.PUBLIC_MEMBERS, f"{kind}.{name} grants to the public"


def test_a_public_invoker_binding_fails(tmp_path: Path) -> None:
    broken = mutated(
        tmp_path,
        "functions.tf",
        'member   = "serviceAccount:${google_service_account.push.email}"',
        'member   = "allUsers"',
    )
    public = [
        f"{k}.{n}" for k, n, body in broken.all_resources() if body.get("member") in model.PUBLIC_MEMBERS
    ]
    assert public == ["google_cloud_run_service_iam_member.push_invoker"]


def test_pubsub_service_agent_is_created_before_it_is_granted(tf: model.Terraform) -> None:
    identity = tf.resource("google_project_service_identity", "pubsub")
    assert identity["service"] == "pubsub.googleapis.com"
    uses = [
        f"{k}.{n}"
        for k, n, body in tf.all_resources()
        if "${local.pubsub_service_agent}" in (body.get("member"), body.get("members"))
    ]
    assert sorted(uses) == [
        "google_pubsub_subscription_iam_member.service_agent_source",
        "google_pubsub_topic_iam_member.service_agent_dead_letter",
        "google_service_account_iam_member.push_token_creator",
    ]
    assert "gcp-sa-pubsub" not in str(tf.locals), "the agent's address must come from the created identity"


def _project_roles_granted_to_others(tf: model.Terraform) -> set[str]:
    return {
        body["role"]
        for name, body in tf.of_kind("google_project_iam_member").items()
        if "google_service_account.deployer" not in body["member"]
    }


def test_deployer_grants_only_the_roles_this_configuration_grants(tf: model.Terraform) -> None:
    iam_admin = tf.resource("google_project_iam_member", "deployer_iam")
    assert iam_admin["role"] == "roles/resourcemanager.projectIamAdmin"
    assert "roles/resourcemanager.projectIamAdmin" not in tf.locals["deployer_roles"]
    expression = model.first(iam_admin["condition"])["expression"]
    assert expression.startswith("api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([")
    assert "${join" in expression
    assert "local.granted_project_roles" in expression
    listed = re.findall(r"google_project_iam_member\.(\w+)\.role", str(tf.locals["granted_project_roles"]))
    listed_roles = {tf.resource("google_project_iam_member", name)["role"] for name in listed}
    assert listed_roles == _project_roles_granted_to_others(tf)
    # ... and may change the firewall rule it manages.
    assert "roles/compute.securityAdmin" in tf.locals["deployer_roles"]


def test_a_project_role_missing_from_the_deployers_condition_fails(tmp_path: Path) -> None:
    broken = mutated(
        tmp_path, "iam.tf", 'role    = "roles/logging.logWriter"', 'role    = "roles/monitoring.metricWriter"'
    )
    granted = _project_roles_granted_to_others(broken)
    assert "roles/monitoring.metricWriter" in granted
    # The condition is built from the grants themselves, so it follows the edit.
    listed = re.findall(
        r"google_project_iam_member\.(\w+)\.role", str(broken.locals["granted_project_roles"])
    )
    assert {broken.resource("google_project_iam_member", n)["role"] for n in listed} == granted


def test_profiles_size_each_paid_resource(tf: model.Terraform) -> None:
    variable = tf.variables["profile"]
    assert variable["default"] == "small"
    assert 'contains(["small", "production"], var.profile)' in str(variable["validation"])
    small, production = tf.locals["profiles"]["small"], tf.locals["profiles"]["production"]
    assert small.keys() == production.keys()
    assert (small["redis_tier"], production["redis_tier"]) == ("BASIC", "STANDARD_HA")
    assert (small["db_availability_type"], production["db_availability_type"]) == ("ZONAL", "REGIONAL")
    assert small["db_tier"] == "db-f1-micro"
    assert small["warm_function_instances"] == small["api_min_instances"] == 0
    redis = tf.resource("google_redis_instance", "cache")
    assert redis["tier"] == "${local.size.redis_tier}"
    assert redis["memory_size_gb"] == "${local.size.redis_memory_gb}"
    settings = model.first(tf.resource("google_sql_database_instance", "db")["settings"])
    for argument, key in (
        ("tier", "db_tier"),
        ("availability_type", "db_availability_type"),
        ("disk_type", "db_disk_type"),
        ("disk_size", "db_disk_size_gb"),
    ):
        assert settings[argument] == f"${{local.size.{key}}}", argument
    assert tf.locals["size"] == "${local.profiles[var.profile]}"


def test_storage_audit_logs_keep_writes_and_drop_reads(tf: model.Terraform) -> None:
    audit = tf.resource("google_project_iam_audit_config", "storage")
    assert [c["log_type"] for c in audit["audit_log_config"]] == ["DATA_WRITE"]


def test_destroy_finishes(tf: model.Terraform) -> None:
    assert tf.resource("google_sql_user", "owner")["deletion_policy"] == "ABANDON"
    assert (
        tf.resource("google_service_networking_connection", "private_services")["deletion_policy"]
        == "ABANDON"
    )
    assert tf.resource("google_storage_bucket", "models")["force_destroy"] == "${!var.deletion_protection}"
    assert (
        tf.resource("google_sql_database_instance", "db")["deletion_protection"]
        == "${var.deletion_protection}"
    )
    for kind in ("google_cloud_run_v2_service", "google_cloud_run_v2_job"):
        for name, body in tf.of_kind(kind).items():
            assert body["deletion_protection"] is False, f"{kind}.{name}"


def test_connections_are_encrypted_and_the_app_is_not_the_owner(tf: model.Terraform) -> None:
    assert tf.resource("google_redis_instance", "cache")["transit_encryption_mode"] == "SERVER_AUTHENTICATION"
    urls = [
        tf.locals["redis_host_url"],
        tf.resource("google_secret_manager_secret_version", "redis_url")["secret_data"],
    ]
    for url in urls:
        assert url.startswith("rediss://"), url
        assert url.endswith("?${local.redis_tls}"), url
    assert tf.locals["redis_tls"] == "ssl_ca_certs=${local.redis_ca_dir}/${local.redis_ca_file}"
    ca = tf.resource("google_secret_manager_secret_version", "redis_ca")
    assert "google_redis_instance.cache.server_ca_certs" in ca["secret_data"]
    for name in ("app_database_url", "owner_database_url"):
        assert tf.locals[name].endswith("?sslmode=require"), name
    assert tf.locals["app_database_url"].startswith("postgresql+psycopg://${local.db_app_role}@")
    assert tf.locals["db_app_role"] != tf.locals["db_owner_role"]
    assert tf.locals["common_env"]["SVMFLOW_DATABASE_URL"] == "${local.app_database_url}"
    migrate = tf.resource("google_cloud_run_v2_job", "migrate")
    container = model.first(model.first(model.first(migrate["template"])["template"])["containers"])
    assert container["args"] == ["migrate", "--app-role", "${local.db_app_role}"]


def test_cloud_run_uses_direct_vpc_egress_and_functions_a_connector(tf: model.Terraform) -> None:
    templates = [model.first(tf.resource("google_cloud_run_v2_service", "api")["template"])]
    templates += [
        model.first(model.first(job["template"])["template"])
        for job in tf.of_kind("google_cloud_run_v2_job").values()
    ]
    for template in templates:
        access = model.first(template["vpc_access"])
        assert "connector" not in access
        assert "google_compute_subnetwork.direct_egress" in str(access["network_interfaces"])
    in_vpc = {name for name, f in tf.locals["functions"].items() if f["db"] or f["redis"]}
    assert "prediction" not in in_vpc


def test_every_image_repository_deletes_old_images(tf: model.Terraform) -> None:
    for name, repo in tf.of_kind("google_artifact_registry_repository").items():
        assert repo.get("cleanup_policy_dry_run") is False, name
        actions = [p["action"] for p in repo["cleanup_policies"]]
        assert "DELETE" in actions, name


def test_busy_is_not_poison(tf: model.Terraform) -> None:
    assert tf.default("max_delivery_attempts") >= 10
    retry = model.first(tf.resource("google_pubsub_subscription", "function")["retry_policy"])
    assert retry["maximum_backoff"] == "600s"
    # Enough backoff before a throttled message is dead-lettered: at least an hour.
    backoff, total = 10, 0
    for _ in range(tf.default("max_delivery_attempts") - 1):
        total += backoff
        backoff = min(backoff * 2, 600)
    assert total >= 3600
    alert = tf.resource("google_monitoring_alert_policy", "backlog_age")
    condition = model.first(model.first(alert["conditions"])["condition_threshold"])
    assert "subscription/oldest_unacked_message_age" in condition["filter"]
    assert "local.backlog_subscription_regex" in condition["filter"]
    assert tf.locals["backlog_subscription_regex"] == '(${join("|", values(local.subscription_names))})'
    concurrent = {name for name, f in tf.locals["functions"].items() if f["concurrency"] > 1}
    assert {"prediction_to_cache", "training_to_cache"} <= concurrent


def _load(path: Path) -> dict:
    with path.open() as handle:
        return hcl2.load(handle, serialization_options=model._OPTIONS)


def test_lock_file_pins_every_required_provider() -> None:
    lock = _load(model.INFRA / ".terraform.lock.hcl")
    locked = {}
    for block in lock["provider"]:
        for source, body in block.items():
            locked[source.strip('"').removeprefix("registry.terraform.io/")] = body
    versions = _load(model.INFRA / "versions.tf")
    required = {
        spec["source"]
        for block in versions["terraform"][0]["required_providers"]
        for spec in (block.values() if isinstance(block, dict) else [])
        if isinstance(spec, dict)
    }
    assert required == set(locked)
    for source, body in locked.items():
        hashes = body["hashes"]
        assert any(h.startswith("zh:") for h in hashes), source
        assert all(re.fullmatch(r"(zh:[0-9a-f]{64}|h1:[A-Za-z0-9+/=]{44})", h) for h in hashes), source


def _cost_table(readme: str, profile: str) -> tuple[list[tuple[str, float]], float]:
    section = readme.split(f"**{profile}**", 1)[1].split("\n\n", 2)[1]
    lines, total = [], None
    for row in section.splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        amount = float(cells[-1].strip("*"))
        if cells[0] == "**total**":
            total = amount
        else:
            lines.append((cells[0], amount))
    assert total is not None, f"no total in the {profile} cost table"
    return lines, total


def test_the_idle_cost_tables_add_up_and_small_is_under_half(tf: model.Terraform) -> None:
    readme = (model.INFRA / "README.md").read_text()
    assert "as of **2026-12-01**" in readme
    for profile in ("small", "production"):
        lines, total = _cost_table(readme, profile)
        assert round(sum(amount for _, amount in lines), 2) == total, profile
    small_lines, small_total = _cost_table(readme, "small")
    assert small_total <= 125 / 2
    # The table prices what the profile deploys.
    small = tf.locals["profiles"]["small"]
    named = " ".join(name for name, _ in small_lines)
    assert f"`{small['db_tier']}`" in named
    assert f"Memorystore {small['redis_tier'].title()}, {small['redis_memory_gb']} GB" in named
