"""A prediction request that is dead-lettered leaves its batch `failed` with the reason, on the real
services: the Pub/Sub emulator's dead-letter policy (or the prediction function, for a poison message)
publishes to prediction-requests-dead-letter, whose push subscription runs prediction_dead_letters
(Postgres and Redis) beside the operator's pull subscription. An operator replays it through the
predict API: the batch is pending, then done."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psutil
import pytest
from google.cloud import pubsub_v1

from api.batch_ids import BatchIds
from devstack import pubsub_emulator
from devstack.raw_http import RawHttp
from svmflow import topology
from svmflow.db.tables import DeadLetterRecord
from svmflow.messaging import publish
from tests.builders import prediction_request
from tests.emulated_harness import POLICY, EmulatedRun, wait_until

pytestmark = pytest.mark.integration


def operator(run: EmulatedRun) -> RawHttp:
    return RawHttp(run.stack.ingest_url, run.stack.predict_url, run.operator_key)


def dead_letter_of(run: EmulatedRun, batch_id: str) -> dict[str, Any] | None:
    status, answer, _ = operator(run).call("GET", f"{run.stack.predict_url}/v1/dead-letters?limit=100")
    assert status == 200, answer
    return next((d for d in answer["items"] if d["batch_id"] == batch_id), None)


def failed(run: EmulatedRun, batch_id: str) -> dict[str, Any] | None:
    status, answer = run.poll(batch_id)
    return answer if status == 200 and answer["status"] == "failed" else None


@contextmanager
def predictions_topic_gone(run: EmulatedRun) -> Iterator[None]:
    """The prediction function cannot publish its answers (the topic is gone) until this ends: every
    delivery of a request fails, and the emulator dead-letters it after its attempts."""
    project = run.stack.config.project
    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    sinks = [f for f, row in topology.FUNCTIONS.items() if row.topic == topology.PREDICTIONS]
    for function in sinks:
        name = subscriber.subscription_path(project, topology.subscription_name(function))
        subscriber.delete_subscription(request={"subscription": name})
    publisher.delete_topic(request={"topic": publisher.topic_path(project, topology.PREDICTIONS)})
    try:
        yield
    finally:
        publisher.create_topic(request={"name": publisher.topic_path(project, topology.PREDICTIONS)})
        for function in sinks:
            url = run.stack.function_url(function)
            pubsub_emulator.create_push_subscription(project, function, url, POLICY, publisher, subscriber)


@contextmanager
def frozen(run: EmulatedRun, function: str) -> Iterator[None]:
    """The function's processes stopped (SIGSTOP), so what it would do waits."""
    master = run.stack.functions[function].pid
    assert master is not None
    pids = [master, *(p.pid for p in psutil.Process(master).children(recursive=True))]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def test_a_poison_request_fails_its_batch_at_once_and_operators_see_why(emulated: EmulatedRun) -> None:
    run = emulated
    batch_id = BatchIds(run.container.secrets).issue()
    request = prediction_request(batch_id, rows=3, offset=40)
    for row in request.features:
        del row[-1]  # three features where the model expects four: never predictable
    publish(run.container.publisher, topology.PREDICTION_REQUESTS, request, batch_id=batch_id)

    failure = wait_until(lambda: failed(run, batch_id), 60, "the batch to fail")
    assert "expects 4 features per row, got 3" in failure["reason"]
    status, page, _ = run.client.call("GET", f"{run.stack.predict_url}/v1/batches?limit=100")
    assert status == 200
    assert next(i for i in page["items"] if i["batch_id"] == batch_id)["status"] == "failed"
    letter = wait_until(lambda: dead_letter_of(run, batch_id), 30, "the dead letter to be listed")
    assert letter["message_id"] == failure["dead_letter_id"]
    assert letter["function"] == "prediction"
    # Plain keys may neither list nor replay.
    assert run.client.call("GET", f"{run.stack.predict_url}/v1/dead-letters")[0] == 403
    url = f"{run.stack.predict_url}/v1/dead-letters/{letter['message_id']}/replay"
    assert run.client.call("POST", url)[0] == 403


def test_an_exhausted_request_fails_then_a_replay_makes_it_pending_then_done(emulated: EmulatedRun) -> None:
    run = emulated
    with predictions_topic_gone(run):
        batch_id = run.accepted(rows=4, offset=60)
        failure = wait_until(lambda: failed(run, batch_id), 90, "the batch to fail", interval=0.5)
    assert f"after {POLICY.max_delivery_attempts} attempts" in failure["reason"] or (
        "delivery attempts exhausted" in failure["reason"]
    )
    letter = wait_until(lambda: dead_letter_of(run, batch_id), 30, "the dead letter to be listed")
    assert letter["topic"] == topology.PREDICTION_REQUESTS
    with run.container.db.transaction() as session:
        row = session.get(DeadLetterRecord, letter["message_id"])
        assert row is not None
        assert row.batch_id == batch_id
        assert row.replayed_at is None

    # Prediction held back, so the batch is seen pending between the replay and its result.
    with frozen(run, "prediction"):
        url = f"{run.stack.predict_url}/v1/dead-letters/{letter['message_id']}/replay"
        status, answer, _ = operator(run).call("POST", url)
        assert status == 202, answer
        wait_until(lambda: run.poll(batch_id)[0] == 202, 60, "the batch to be pending again")
        assert run.poll(batch_id)[1]["status"] == "pending"
        assert dead_letter_of(run, batch_id) is None
    done = run.wait_done(batch_id, timeout=90)
    assert done["status"] == "done"
    assert len(done["results"]) == 4
    with run.container.db.transaction() as session:
        row = session.get(DeadLetterRecord, letter["message_id"])
        assert row is not None
        assert row.replayed_at is not None
    assert [
        d for d in run.container.dead_letters.list_dead_letters() if d.attributes.get("batch_id") == batch_id
    ] == []
