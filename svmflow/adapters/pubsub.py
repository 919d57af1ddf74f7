"""Google Cloud Pub/Sub (or its emulator): publishing and the dead-letter subscriptions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from svmflow import topology
from svmflow.messaging import DeadLetter
from svmflow.ports import Publisher, PublishFuture


class PubSubPublisher:
    def __init__(self, client: Any, project: str) -> None:
        self._client = client
        self._project = project
        self._paths: dict[str, str] = {}

    def publish(self, topic: str, data: bytes, attributes: dict[str, str]) -> PublishFuture:
        path = self._paths.get(topic)
        if path is None:
            path = self._paths[topic] = self._client.topic_path(self._project, topic)
        future: PublishFuture = self._client.publish(path, data, **attributes)
        return future

    def ready(self, topic: str = topology.PREDICTION_REQUESTS, timeout: float = 5.0) -> None:
        """Raises unless Pub/Sub answers for ``topic``. A publisher-only identity may not read topics:
        a permission error still proves the service is reachable, and publishing is what it needs."""
        from google.api_core import exceptions

        try:
            self._client.get_topic(
                request={"topic": self._client.topic_path(self._project, topic)}, timeout=timeout
            )
        except exceptions.PermissionDenied:
            return


class PubSubDeadLetters:
    """Lists and replays what sits in the ``<topic>-dead-letter-sub`` subscriptions."""

    def __init__(
        self, subscriber: Any, publisher: Publisher, project: str, pull_seconds: float = 3.0
    ) -> None:
        self._subscriber = subscriber
        self._publisher = publisher
        self._project = project
        # A pull on an empty subscription waits until its deadline, so all five are pulled at once and
        # the deadline is short: an operator command answers in seconds, not a minute.
        self._pull_seconds = pull_seconds

    def _subscriptions(self) -> list[tuple[str, str]]:
        return [
            (
                topic,
                self._subscriber.subscription_path(self._project, f"{topology.dead_letter_topic(topic)}-sub"),
            )
            for topic in topology.TOPICS
        ]

    def _pull(self, path: str, limit: int) -> list[Any]:
        from google.api_core import exceptions

        try:
            response = self._subscriber.pull(
                request={"subscription": path, "max_messages": limit},
                timeout=self._pull_seconds,
                retry=None,
            )
        except exceptions.DeadlineExceeded:  # nothing arrived before the deadline
            return []
        return list(response.received_messages)

    def _pull_all(self, limit: int) -> list[tuple[str, str, list[Any]]]:
        subscriptions = self._subscriptions()
        with ThreadPoolExecutor(max_workers=len(subscriptions)) as pool:
            pulled = list(pool.map(lambda item: self._pull(item[1], limit), subscriptions))
        return [(t, path, received) for (t, path), received in zip(subscriptions, pulled, strict=True)]

    def list_dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        found: list[DeadLetter] = []
        for topic, path, received in self._pull_all(limit):
            found.extend(_dead_letter(topic, r) for r in received)
            if received:  # leave them where they are
                self._subscriber.modify_ack_deadline(
                    request={
                        "subscription": path,
                        "ack_ids": [r.ack_id for r in received],
                        "ack_deadline_seconds": 0,
                    }
                )
        return found

    def replay(self, message_ids: set[str] | None = None, limit: int = 100) -> list[DeadLetter]:
        replayed: list[DeadLetter] = []
        for topic, path, received in self._pull_all(limit):
            done, keep = [], []
            for item in received:
                letter = _dead_letter(topic, item)
                if message_ids is not None and letter.message_id not in message_ids:
                    keep.append(item.ack_id)
                    continue
                attributes = {k: v for k, v in letter.attributes.items() if not k.startswith("CloudPubSub")}
                self._publisher.publish(topic, letter.data, attributes).result(timeout=30)
                done.append(item.ack_id)
                replayed.append(letter)
            if done:
                self._subscriber.acknowledge(request={"subscription": path, "ack_ids": done})
            if keep:
                self._subscriber.modify_ack_deadline(
                    request={"subscription": path, "ack_ids": keep, "ack_deadline_seconds": 0}
                )
        return replayed


def _dead_letter(topic: str, received: Any) -> DeadLetter:
    message = received.message
    return DeadLetter(
        topic=topic,
        message_id=message.message_id,
        data=bytes(message.data),
        attributes=dict(message.attributes),
        reason=message.attributes.get("svmflow_error", "delivery attempts exhausted"),
    )
