"""Static checks of infra/ against the code: topology, dead letters, roles, sizing, privacy."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from svmflow import topology
from tests.unit.infra import terraform_model as model

PUBLISHED_TOPICS = {t for row in topology.FUNCTIONS.values() for t in row.publishes} | {
    t for published in topology.APIS.values() for t in published
}


@pytest.fixture(scope="module")
def tf() -> model.Terraform:
    return model.load()


def mutated(tmp_path: Path, filename: str, old: str, new: str) -> model.Terraform:
    """infra/ copied with one edit, to show a check catches the mistake it is there for."""
    copy = tmp_path / "infra"
    shutil.copytree(model.INFRA, copy, ignore=shutil.ignore_patterns(".terraform", "scripts", "ci"))
    path = copy / filename
    text = path.read_text()
    assert old in text, f"{old!r} not in {filename}: update the test"
    path.write_text(text.replace(old, new, 1))
    return model.load(copy)


def test_every_exported_function_is_deployed_once_on_its_topic(tf: model.Terraform) -> None:
    exported = model.main_py_exports()
    assert exported == set(topology.FUNCTIONS), "main.py and svmflow.topology disagree"
    assert model.check_functions(tf, exported, topology.FUNCTIONS, topology.subscription_name) == []


def test_a_function_added_to_main_py_without_terraform_fails(tf: model.Terraform) -> None:
    exported = model.main_py_exports() | {"reindex"}
    problems = model.check_functions(tf, exported, topology.FUNCTIONS, topology.subscription_name)
    assert problems == ["main.py exports reindex but no Terraform function runs it"]


def test_a_wrong_trigger_topic_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "components.tf", 'topic         = "models"', 'topic         = "feedback"')
    problems = model.check_functions(
        broken, model.main_py_exports(), topology.FUNCTIONS, topology.subscription_name
    )
    assert problems == ["training_to_cache is triggered by feedback, topology says models"]


def test_every_topic_the_code_publishes_to_exists(tf: model.Terraform) -> None:
    assert model.check_topics(tf, topology.TOPICS, PUBLISHED_TOPICS) == []


def test_a_missing_topic_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "components.tf", '"training-requests", "models"', '"models"')
    problems = model.check_topics(broken, topology.TOPICS, PUBLISHED_TOPICS)
    assert "topic training-requests is missing from Terraform" in problems
    assert "the code publishes to training-requests, which Terraform does not create" in problems


def test_every_subscription_has_retry_and_dead_letter_policies(tf: model.Terraform) -> None:
    assert set(tf.of_kind("google_pubsub_subscription")) == {
        "function",
        "dead_letter",
        "dead_letter_function",
    }
    assert model.check_subscriptions(tf) == []


def test_a_subscription_without_dead_letter_policy_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "pubsub.tf", "  dead_letter_policy {", "  dead_letter_policy_off {")
    assert model.check_subscriptions(broken) == ["subscription function has no dead-letter policy"]


def test_dead_lettering_service_agent_roles(tf: model.Terraform) -> None:
    publish = tf.resource("google_pubsub_topic_iam_member", "service_agent_dead_letter")
    ack = tf.resource("google_pubsub_subscription_iam_member", "service_agent_source")
    assert publish["role"] == "roles/pubsub.publisher"
    assert "google_pubsub_topic.dead_letter" in publish["topic"]
    assert ack["role"] == "roles/pubsub.subscriber"
    assert "google_pubsub_subscription.function" in ack["subscription"]
    # The agent is created explicitly: on a new project it may not exist at the first apply.
    assert (
        tf.locals["pubsub_service_agent"] == "serviceAccount:${google_project_service_identity.pubsub.email}"
    )
    identity = tf.resource("google_project_service_identity", "pubsub")
    assert identity["service"] == "pubsub.googleapis.com"
    assert identity["provider"] == "google-beta"
    assert publish["member"] == ack["member"] == "${local.pubsub_service_agent}"


def test_no_service_account_holds_a_primitive_role(tf: model.Terraform) -> None:
    assert model.check_roles(tf) == []


def test_a_primitive_role_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "deployer.tf", '"roles/run.admin",', '"roles/editor",')
    assert model.check_roles(broken) == ["local.deployer_roles grants the primitive role roles/editor"]


def test_components_publish_only_where_the_topology_says(tf: model.Terraform) -> None:
    apis = tf.locals["apis"]
    assert {name: tuple(a["publishes"]) for name, a in apis.items()} == topology.APIS
    assert apis["ingest"]["publishes"] == ["prediction-requests", "bulk-requests"]
    # Publishing rights come only from these per-topic grants, built from the tables above.
    api_grants = tf.resource("google_pubsub_topic_iam_member", "api_publisher")
    assert api_grants["for_each"] == "${local.api_publish_grants}"
    assert api_grants["role"] == "roles/pubsub.publisher"
    for kind, name, body in tf.all_resources():
        if "google_service_account.api[" in str(body.get("member", "")) and kind.startswith("google_pubsub"):
            assert (kind, name) == ("google_pubsub_topic_iam_member", "api_publisher")
    # A function may also publish to its own input's dead-letter topic, and nowhere else.
    grants = str(tf.locals["function_publish_grants"])
    assert "f.publishes" in grants
    assert '${f.topic}-dead-letter"' in grants


def test_each_component_has_its_own_service_account(tf: model.Terraform) -> None:
    fn = model.first(tf.resource("google_cloudfunctions2_function", "processor")["service_config"])
    assert fn["service_account_email"] == "${google_service_account.function[each.key].email}"
    run = model.first(tf.resource("google_cloud_run_v2_service", "api")["template"])
    assert run["service_account"] == "${google_service_account.api[each.key].email}"
    for name in topology.FUNCTIONS:
        account_id = f"fn-{name.replace('_', '-')}"
        assert 6 <= len(account_id) <= 30, f"{account_id} is not a valid service account id"


def test_model_bucket_is_private(tf: model.Terraform) -> None:
    assert model.check_bucket_private(tf) == []
    assert model.check_bucket_private(tf, "function_source") == []


def test_a_public_bucket_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "data.tf", 'public_access_prevention    = "enforced"', "")
    assert model.check_bucket_private(broken) == ["bucket models does not enforce public access prevention"]
    grant = 'role   = "roles/storage.objectUser"\n  member = '
    ops = '"serviceAccount:${google_service_account.ops.email}"'
    broken = mutated(tmp_path / "2", "ops.tf", grant + ops, grant + '"allUsers"')
    assert model.check_bucket_private(broken) == [
        "google_storage_bucket_iam_member.ops_models makes a bucket public"
    ]


def test_database_connections_fit(tf: model.Terraform) -> None:
    assert model.check_connection_budget(tf) == []


def test_too_many_instances_for_the_database_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "components.tf", "max_instances = 5", "max_instances = 50")
    assert model.check_connection_budget(broken) == [
        "small: functions may open 136 connections; the database allows 46",
        "production: functions may open 136 connections; the database allows 90",
    ]


def test_a_database_function_serving_requests_concurrently_fails(tmp_path: Path) -> None:
    old = '"0.333"\n      timeout       = 60\n      concurrency   = 1'
    broken = mutated(tmp_path, "components.tf", old, old.replace("= 1", "= 2"))
    assert model.check_connection_budget(broken) == [
        "prediction_to_db opens connections but serves 2 requests at once",
        "prediction_to_db: concurrency above 1 needs a whole vCPU",
    ]


def test_prediction_keeps_a_warm_instance_in_production(tf: model.Terraform) -> None:
    assert tf.locals["functions"]["prediction"]["warm"] is True
    assert tf.locals["profiles"]["production"]["warm_function_instances"] >= 1
    service = model.first(tf.resource("google_cloudfunctions2_function", "processor")["service_config"])
    assert service["min_instance_count"] == "${each.value.warm ? local.size.warm_function_instances : 0}"


def test_functions_retry_fit_their_deadline_and_reach_the_vpc(tf: model.Terraform) -> None:
    service = model.first(tf.resource("google_cloudfunctions2_function", "processor")["service_config"])
    assert service["ingress_settings"] == "ALLOW_INTERNAL_ONLY"
    assert "google_vpc_access_connector" in service["vpc_connector"]
    assert "local.functions_in_vpc" in service["vpc_connector"]
    for name, spec in tf.locals["functions"].items():
        # Pub/Sub waits at most 600 s for a push; a longer run would be redelivered meanwhile.
        assert spec["timeout"] <= 570, name
        assert spec["max_instances"] >= 1, name


def test_apis_run_the_one_image_by_argument(tf: model.Terraform) -> None:
    api = tf.resource("google_cloud_run_v2_service", "api")
    container = model.first(model.first(api["template"])["containers"])
    assert container["image"] == "${var.api_image}"
    assert container["args"] == ["${each.key}"]
    assert "vpc_access" in model.first(api["template"])


def test_dead_letter_alert_covers_every_dead_letter_subscription(tf: model.Terraform) -> None:
    assert model.check_alert(tf) == []


def test_an_alert_on_the_wrong_subscriptions_fails(tmp_path: Path) -> None:
    broken = mutated(tmp_path, "monitoring.tf", ".*-dead-letter-sub", "models-dead-letter-sub")
    assert model.check_alert(broken) != []


def test_the_input_drift_log_line_raises_an_alert(tf: model.Terraform) -> None:
    from svmflow.handlers.drift_monitor import ALERT_EVENT

    metric = tf.resource("google_logging_metric", "input_drift")
    query = metric["filter"].replace('\\"', '"')
    assert f'jsonPayload.event = "{ALERT_EVENT}"' in query
    assert 'resource.labels.service_name = "${local.function_names["drift_monitor"]}"' in query
    assert metric["label_extractors"] == {"model_version": "EXTRACT(jsonPayload.model_version)"}
    descriptor = model.first(metric["metric_descriptor"])
    assert (descriptor["metric_kind"], descriptor["value_type"]) == ("DELTA", "INT64")
    policy = tf.resource("google_monitoring_alert_policy", "input_drift")
    condition = model.first(model.first(policy["conditions"])["condition_threshold"])
    assert (
        'metric.type = "logging.googleapis.com/user/${google_logging_metric.input_drift.name}"'
        in condition["filter"].replace('\\"', '"')
    )
    # Fires on the first drifted window of any model version.
    assert (condition["comparison"], condition["threshold_value"], condition["duration"]) == (
        "COMPARISON_GT",
        0,
        "0s",
    )
    assert model.first(condition["aggregations"])["group_by_fields"] == ["metric.label.model_version"]
    assert policy["notification_channels"] == "${google_monitoring_notification_channel.email[*].id}"


def test_required_outputs(tf: model.Terraform) -> None:
    assert {"ingest_api_url", "predict_api_url", "model_bucket", "topics"} <= set(tf.outputs)


def test_example_tfvars_sets_every_required_variable(tf: model.Terraform) -> None:
    required = {name for name, body in tf.variables.items() if "default" not in body}
    example = (model.INFRA / "terraform.tfvars.example").read_text()
    assigned = {line.split("=")[0].strip() for line in example.splitlines() if "=" in line}
    assert required <= assigned
