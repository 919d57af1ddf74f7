"""The Terraform in infra/, parsed with python-hcl2 into plain dicts, and the checks run on it.

Each check returns a list of problems (empty when fine), so the tests can run it on infra/
and on deliberately broken copies of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
from hcl2 import SerializationOptions

from svmflow import topology

REPO = Path(__file__).resolve().parents[3]
INFRA = REPO / "infra"
PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
# The only project-level grants: the function build account (logs; sources, conditioned on the
# gcf-v2-sources bucket) and the deployer (its roles; IAM admin, conditioned on the roles).
PROJECT_WIDE_GRANTS = frozenset({"function_build", "function_build_sources", "deployer", "deployer_iam"})
_OPTIONS = SerializationOptions(strip_string_quotes=True, explicit_blocks=False, with_comments=False)


@dataclass
class Terraform:
    resources: dict[str, dict[str, dict[str, Any]]]
    locals: dict[str, Any]
    variables: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]

    def resource(self, kind: str, name: str) -> dict[str, Any]:
        return self.resources.get(kind, {}).get(name, {})

    def of_kind(self, kind: str) -> dict[str, dict[str, Any]]:
        return self.resources.get(kind, {})

    def default(self, variable: str) -> Any:
        return self.variables[variable].get("default")

    def all_resources(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        for kind, named in self.resources.items():
            for name, body in named.items():
                yield kind, name, body


def load(directory: Path = INFRA) -> Terraform:
    resources: dict[str, dict[str, dict[str, Any]]] = {}
    local_values: dict[str, Any] = {}
    variables: dict[str, dict[str, Any]] = {}
    outputs: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as handle:
            parsed = hcl2.load(handle, serialization_options=_OPTIONS)
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    if name in resources.get(kind, {}):
                        raise ValueError(f"{path.name}: {kind}.{name} declared twice")
                    resources.setdefault(kind, {})[name] = body
        for block in parsed.get("locals", []):
            local_values.update(block)
        for block in parsed.get("variable", []):
            variables.update(block)
        for block in parsed.get("output", []):
            outputs.update(block)
    return Terraform(resources, local_values, variables, outputs)


def first(value: Any) -> Any:
    """A nested block parses as a list of one dict; an attribute as the value itself."""
    return value[0] if isinstance(value, list) and value else value


def main_py_exports() -> set[str]:
    """The entry points main.py exports (its ``__all__``); importing it builds no dependency."""
    import main

    return set(main.__all__)


# --- checks -----------------------------------------------------------------------------------


def check_functions(
    tf: Terraform,
    exported: set[str],
    functions: dict[str, topology.Function],
    subscription_name: Any,
) -> list[str]:
    """Every exported entry point is deployed once, triggered by its topology topic."""
    problems = []
    declared = tf.locals.get("functions", {})
    fn = tf.resource("google_cloudfunctions2_function", "processor")
    if fn.get("for_each") != "${local.functions}":
        problems.append("the functions resource is not generated from local.functions")
    if first(fn.get("build_config", {})).get("entry_point") != "${each.key}":
        problems.append("a function's entry point is not its key in local.functions")
    for name in sorted(exported - declared.keys()):
        problems.append(f"main.py exports {name} but no Terraform function runs it")
    for name in sorted(declared.keys() - exported):
        problems.append(f"Terraform deploys {name} but main.py does not export it")
    for name, (topic, publishes, _) in functions.items():
        spec = declared.get(name)
        if spec is None:
            problems.append(f"topology function {name} has no Terraform function")
            continue
        if spec.get("topic") != topic:
            problems.append(f"{name} is triggered by {spec.get('topic')}, topology says {topic}")
        if set(spec.get("publishes", [])) != set(publishes):
            problems.append(f"{name} may publish to {spec.get('publishes')}, topology says {publishes}")
    # Functions fed by a pipeline topic and those fed by a dead-letter topic have a resource each;
    # together they cover every function.
    for resource, each in (
        ("function", "${local.source_functions}"),
        ("dead_letter_function", "${local.dead_letter_functions}"),
    ):
        sub = tf.resource("google_pubsub_subscription", resource)
        if sub.get("for_each") != each or "each.value.topic" not in sub.get("topic", ""):
            problems.append("push subscriptions are not one per function on its trigger topic")
        if "processor[each.key]" not in str(sub.get("push_config")):
            problems.append("a push subscription does not deliver to its own function")
    names = tf.locals.get("subscription_names", "")
    expected_names = {n: subscription_name(n) for n in functions}
    rendered = {n: f"{n.replace('_', '-')}-sub" for n in declared}
    if 'replace(k, "_", "-")}-sub' not in str(names) or any(
        rendered.get(n) != s for n, s in expected_names.items()
    ):
        problems.append("subscription names differ from svmflow.topology.subscription_name")
    return problems


def check_topics(tf: Terraform, topics: tuple[str, ...], publishers: set[str]) -> list[str]:
    """Every topic exists with a dead-letter topic and a dead-letter subscription."""
    problems = []
    declared = set(tf.locals.get("topics", []))
    for topic in sorted(set(topics) - declared):
        problems.append(f"topic {topic} is missing from Terraform")
    for topic in sorted(publishers - declared):
        problems.append(f"the code publishes to {topic}, which Terraform does not create")
    for kind, expected in (("main", "${each.value}"), ("dead_letter", "${each.value}-dead-letter")):
        topic = tf.resource("google_pubsub_topic", kind)
        if topic.get("for_each") != "${toset(local.topics)}" or topic.get("name") != expected:
            problems.append(f"google_pubsub_topic.{kind} is not one {expected} per topic")
    dead = tf.resource("google_pubsub_subscription", "dead_letter")
    if dead.get("name") != "${each.value}-dead-letter-sub" or "dead_letter[each.value]" not in str(
        dead.get("topic")
    ):
        problems.append("dead-letter topics lack their <topic>-dead-letter-sub subscription")
    return problems


def check_subscriptions(tf: Terraform) -> list[str]:
    """Every subscription that feeds a consumer has a retry and a dead-letter policy."""
    problems = []
    for name, sub in tf.of_kind("google_pubsub_subscription").items():
        if "google_pubsub_topic.dead_letter" in str(sub.get("topic")):
            continue  # the end of the line: an operator reads it
        policy = first(sub.get("dead_letter_policy"))
        if not policy or "google_pubsub_topic.dead_letter" not in str(policy.get("dead_letter_topic")):
            problems.append(f"subscription {name} has no dead-letter policy")
        elif policy.get("max_delivery_attempts") is None:
            problems.append(f"subscription {name} does not bound its delivery attempts")
        if not first(sub.get("retry_policy")):
            problems.append(f"subscription {name} has no retry policy")
    return problems


def _roles(body: dict[str, Any]) -> list[str]:
    role = body.get("role")
    return [role] if isinstance(role, str) else []


def check_roles(tf: Terraform) -> list[str]:
    """No primitive role anywhere; project-wide roles only for the build and deployer accounts."""
    problems = []
    granted = [(f"{k}.{n}", r) for k, n, body in tf.all_resources() for r in _roles(body)]
    granted += [("local.deployer_roles", r) for r in tf.locals.get("deployer_roles", [])]
    for where, role in granted:
        if role in PRIMITIVE_ROLES:
            problems.append(f"{where} grants the primitive role {role}")
    for name in tf.of_kind("google_project_iam_member"):
        if name not in PROJECT_WIDE_GRANTS:
            problems.append(f"google_project_iam_member.{name} grants a project-wide role")
    for kind in ("google_project_iam_binding", "google_project_iam_policy"):
        for name in tf.of_kind(kind):
            problems.append(f"{kind}.{name} would take over the project's IAM")
    return problems


def check_bucket_private(tf: Terraform, bucket: str = "models") -> list[str]:
    problems = []
    body = tf.resource("google_storage_bucket", bucket)
    if body.get("public_access_prevention") != "enforced":
        problems.append(f"bucket {bucket} does not enforce public access prevention")
    if body.get("uniform_bucket_level_access") is not True:
        problems.append(f"bucket {bucket} allows object ACLs")
    if first(body.get("versioning", {})).get("enabled") is not True:
        problems.append(f"bucket {bucket} is not versioned")
    for kind in ("google_storage_bucket_iam_member", "google_storage_bucket_iam_binding"):
        for name, grant in tf.of_kind(kind).items():
            members = {grant.get("member", "")} | set(grant.get("members", []))
            if members & PUBLIC_MEMBERS:
                problems.append(f"{kind}.{name} makes a bucket public")
    for kind in ("google_storage_bucket_acl", "google_storage_object_acl"):
        for name in tf.of_kind(kind):
            problems.append(f"{kind}.{name} uses ACLs")
    return problems


def check_connection_budget(tf: Terraform) -> list[str]:
    """In every profile, max instances x pool size over every Postgres client stays under
    max_connections, and a function that opens connections serves one request at a time."""
    problems = []
    pool = tf.default("db_pool_size")
    functions = tf.locals["functions"]
    used = sum(f["max_instances"] * pool for f in functions.values() if f["db"])
    for profile, size in tf.locals["profiles"].items():
        limit = size["db_max_connections"] - tf.locals["db_reserved_connections"]
        if used > limit:
            problems.append(f"{profile}: functions may open {used} connections; the database allows {limit}")
    service = first(tf.resource("google_cloudfunctions2_function", "processor")["service_config"])
    if service.get("max_instance_request_concurrency") != "${each.value.concurrency}":
        problems.append("function concurrency does not come from local.functions")
    for name, f in functions.items():
        if f["db"] and f["concurrency"] != 1:
            problems.append(f"{name} opens connections but serves {f['concurrency']} requests at once")
        if f["concurrency"] > 1 and float(f["cpu"]) < 1:
            problems.append(f"{name}: concurrency above 1 needs a whole vCPU")
    return problems


def check_alert(tf: Terraform) -> list[str]:
    """The dead-letter alert watches num_undelivered_messages of every dead-letter subscription."""
    policies = tf.of_kind("google_monitoring_alert_policy")
    topics = tf.locals.get("topics", [])
    for policy in policies.values():
        condition = first(first(policy.get("conditions", {})).get("condition_threshold", {}))
        query = condition.get("filter", "")
        if "subscription/num_undelivered_messages" not in query:
            continue
        match = re.search(r'monitoring\.regex\.full_match\(\\?"(.+?)\\?"\)', query)
        covers_all = bool(match) and all(
            re.fullmatch(match.group(1), f"{t}-dead-letter-sub")
            for t in topics  # type: ignore[union-attr]
        )
        fires_on_first = (
            condition.get("comparison") == "COMPARISON_GT" and condition.get("threshold_value") == 0
        )
        if covers_all and fires_on_first:
            return []
    return ["no alert fires on messages waiting in every dead-letter subscription"]
