"""The official Pub/Sub emulator from the Google Cloud CLI, and the production topology created in it."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from devstack.processes import Child, ProcessError
from svmflow import topology

_LAUNCHER = Path("platform") / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
_KNOWN_SDK_ROOTS = ("/usr/lib/google-cloud-sdk", "/usr/share/google-cloud-sdk", "/opt/google-cloud-sdk")


def sdk_root() -> Path:
    """Where the Google Cloud CLI keeps its components; the emulator is one of them."""
    override = os.environ.get("CLOUDSDK_ROOT_DIR")
    candidates = [Path(override)] if override else []
    gcloud = shutil.which("gcloud")
    if gcloud:
        found = subprocess.run(  # noqa: S603 (a fixed command)
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        ).stdout.strip()
        if found:
            candidates.append(Path(found))
    candidates += [Path(p) for p in _KNOWN_SDK_ROOTS]
    for root in candidates:
        if (root / _LAUNCHER).exists():
            return root
    raise ProcessError(
        "the Pub/Sub emulator is not installed: install the Google Cloud CLI and its emulator "
        "(apt-get install google-cloud-cli google-cloud-cli-pubsub-emulator, or "
        "`gcloud components install pubsub-emulator`)"
    )


def emulator(port: int, log_dir: Path, env: Mapping[str, str] | None = None) -> Child:
    """The emulator's own launcher: a shell script that execs Java. Stopping its group ends the JVM too."""
    launcher = sdk_root() / _LAUNCHER
    return Child(
        "pubsub-emulator",
        [str(launcher), "--host=127.0.0.1", f"--port={port}"],
        log_path=log_dir / "pubsub-emulator.log",
        env=env,
        port=port,
    )


@dataclass(frozen=True)
class DeliveryPolicy:
    """What every push subscription gets, as Terraform sets it in production (shorter backoff locally).

    ``retry_policy=False`` leaves the retry policy out, so the emulator redelivers about once a second:
    with a retry policy, the emulator (0.8.x) has been seen to never redeliver one of several messages
    that failed at the same time, which a test cannot tell from a lost message."""

    max_delivery_attempts: int = 5
    minimum_backoff: timedelta = timedelta(seconds=1)
    maximum_backoff: timedelta = timedelta(seconds=10)
    ack_deadline_seconds: int = 60
    retry_policy: bool = True


def push_endpoint(function_url: str, project: str, topic: str) -> str:
    """functions-framework turns a plain push envelope into a CloudEvent when the path names the topic."""
    return f"{function_url.rstrip('/')}/projects/{project}/topics/{topic}"


def create_topology(
    project: str,
    function_urls: Mapping[str, str],
    policy: DeliveryPolicy,
    *,
    publisher: Any | None = None,
    subscriber: Any | None = None,
) -> None:
    """Topics, dead-letter topics with their pull subscriptions, and one push subscription per function.

    Expects ``PUBSUB_EMULATOR_HOST`` to be set (the clients read it when they are built)."""
    # Not `from google.cloud import pubsub_v1`: mypy misreads that attribute of the namespace package.
    import google.cloud.pubsub_v1 as pubsub_v1

    publisher = publisher or pubsub_v1.PublisherClient()
    subscriber = subscriber or pubsub_v1.SubscriberClient()
    for topic in topology.TOPICS:
        dead_letter = topology.dead_letter_topic(topic)
        for name in (topic, dead_letter):
            publisher.create_topic(request={"name": publisher.topic_path(project, name)})
        subscriber.create_subscription(
            request={
                "name": subscriber.subscription_path(project, f"{dead_letter}-sub"),
                "topic": publisher.topic_path(project, dead_letter),
                "ack_deadline_seconds": policy.ack_deadline_seconds,
            }
        )
    for function in topology.FUNCTIONS:
        create_push_subscription(project, function, function_urls[function], policy, publisher, subscriber)


def create_push_subscription(
    project: str, function: str, function_url: str, policy: DeliveryPolicy, publisher: Any, subscriber: Any
) -> None:
    """The push subscription that delivers ``function``'s trigger topic to it."""
    topic = topology.FUNCTIONS[function][0]
    request: dict[str, Any] = {
        "name": subscriber.subscription_path(project, topology.subscription_name(function)),
        "topic": publisher.topic_path(project, topic),
        "push_config": {"push_endpoint": push_endpoint(function_url, project, topic)},
        "ack_deadline_seconds": policy.ack_deadline_seconds,
    }
    # A subscriber of a dead-letter topic has none of its own (as in infra/pubsub.tf).
    if not topology.is_dead_letter_topic(topic):
        request["dead_letter_policy"] = {
            "dead_letter_topic": publisher.topic_path(project, topology.dead_letter_topic(topic)),
            "max_delivery_attempts": policy.max_delivery_attempts,
        }
    if policy.retry_policy:
        request["retry_policy"] = {
            "minimum_backoff": policy.minimum_backoff,
            "maximum_backoff": policy.maximum_backoff,
        }
    subscriber.create_subscription(request=request)
