"""Completion webhooks wired into the pipeline: the callback URL travels from the request to the
delivery functions, each delivery is recorded once and attempted by one caller at a time, a failed
batch is notified unless it was predicted after all, the address is checked again at delivery, and
the read model lists every attempt."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import msgspec
import pytest
import standardwebhooks
from sqlalchemy import func, select

from svmflow import contracts, topology, webhook_deliveries
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.config import ConfigError, Settings
from svmflow.contracts import Predictions, WebhookTick
from svmflow.db.tables import PredictionBatch, WebhookDelivery
from svmflow.handlers import batch_done_webhooks, batch_failed_webhooks, prediction, webhook_retries
from svmflow.messaging import Delivery, EventContext
from svmflow.runtime.ticker import Ticker
from svmflow.webhooks import signing
from svmflow.webhooks.urls import UrlPolicy
from tests.builders import prediction_request
from tests.fakes import RecordingPublisher
from tests.https_receiver import Receiver, https_receiver

SECRET = signing.new_secret()
CONTEXT = EventContext("e-1", {})


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with https_receiver() as found:
        yield found


def sender_for(container: Container, receiver: Receiver, **changes: object) -> webhook_deliveries.Sender:
    options: dict[str, object] = {
        "secrets": EnvSecrets({"SVMFLOW_SECRET_WEBHOOK_SECRET": SECRET}),
        "policy": UrlPolicy(allow_loopback=True),
        "retry_scale": 0.0,
        "tls": receiver.client_context(),
    }
    return webhook_deliveries.Sender(**(options | changes))  # type: ignore[arg-type]


def predictions(batch_id: str, callback: str | None) -> Predictions:
    now = datetime.now(UTC)
    return Predictions(
        batch_id=batch_id,
        subjects=["a", "b"],
        features=[[1.0, 2.0, 3.0, 4.0], [4.0, 3.0, 2.0, 1.0]],
        labels=[0, 1],
        scores=[-1.0, 1.0],
        model_version="v1",
        submitted_at=now,
        predicted_at=now,
        callback_url=callback,
    )


def rows_of(container: Container, batch_id: str) -> list[WebhookDelivery]:
    with container.db.transaction() as session:
        found = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.batch_id == batch_id)))
        session.expunge_all()
        return found


# -- settings --------------------------------------------------------------------------------


def test_webhook_settings_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {
            "SVMFLOW_WEBHOOK_ALLOW": "loopback, private",
            "SVMFLOW_WEBHOOK_RETRY_SCALE": "0.5",
            "SVMFLOW_WEBHOOK_KEY_URLS": "abc=https://hooks.example.com/a def=https://hooks.example.com/b?x=1",
        }
    )
    assert settings.webhook_allowances == ("loopback", "private")
    assert settings.webhook_retry_scale == 0.5
    assert settings.webhook_urls_by_key == {
        "abc": "https://hooks.example.com/a",
        "def": "https://hooks.example.com/b?x=1",
    }
    refused = {
        "SVMFLOW_WEBHOOK_ALLOW": ("everything", "loopback and private only"),
        "SVMFLOW_WEBHOOK_KEY_URLS": ("abc=http://hooks.example.com/a", "must use https"),
        "SVMFLOW_WEBHOOK_RETRY_SCALE": ("-1", "SVMFLOW_WEBHOOK_RETRY_SCALE"),
    }
    for variable, (value, said) in refused.items():
        with pytest.raises(ConfigError, match=said):
            Settings.from_env({variable: value})
    with pytest.raises(ConfigError, match="IDENTITY=URL"):
        Settings.from_env({"SVMFLOW_WEBHOOK_KEY_URLS": "https://hooks.example.com/a"})


def test_the_container_builds_the_policy_from_the_settings(settings: Settings) -> None:
    assert Container(settings).webhook_sender.policy == UrlPolicy()
    allowed = Container(settings.with_(webhook_allow="loopback")).webhook_sender.policy
    assert allowed == UrlPolicy(allow_loopback=True, allow_private=False)


# -- the URL travels with the batch ----------------------------------------------------------


def test_the_prediction_carries_the_callback_url_on(
    trained: Container, publisher: RecordingPublisher
) -> None:
    request = prediction_request("cb-1", rows=3)
    request.callback_url = "https://hooks.example.com/done"
    data = contracts.encode(request)
    prediction.handle(
        contracts.decode(data, contracts.PredictionRequest),
        EventContext("e", {}, data=data),
        models=trained.models,
        publisher=publisher,
    )
    (published,) = publisher.on(topology.PREDICTIONS)
    assert contracts.decode(published.data, Predictions).callback_url == "https://hooks.example.com/done"


def test_a_request_without_a_callback_still_decodes_as_before() -> None:
    old = (
        b'{"schema_version":1,"batch_id":"b","subjects":["s"],"features":[[1.0]],'
        b'"submitted_at":"2026-01-01T00:00:00Z"}'
    )
    assert contracts.decode(old, contracts.PredictionRequest).callback_url is None


# -- batch.done ------------------------------------------------------------------------------


def test_a_batch_without_a_callback_records_nothing(container: Container, receiver: Receiver) -> None:
    batch_done_webhooks.handle(
        predictions("no-cb", None),
        CONTEXT,
        db=container.db,
        read_model=container.read_model,
        webhook_sender=sender_for(container, receiver),
    )
    assert rows_of(container, "no-cb") == []
    assert container.read_model.deliveries_json("no-cb") is None


def test_a_redelivered_event_is_delivered_once(container: Container, receiver: Receiver) -> None:
    receiver.answer("/once", 200)
    sender = sender_for(container, receiver)
    message = predictions("once", receiver.url("/once"))
    for _ in range(3):
        batch_done_webhooks.handle(
            message, CONTEXT, db=container.db, read_model=container.read_model, webhook_sender=sender
        )
    (row,) = rows_of(container, "once")
    assert (row.state, row.attempt_count) == ("delivered", 1)
    (received,) = receiver.on("/once")
    payload = standardwebhooks.Webhook(SECRET).verify(received.body.decode(), received.headers)
    assert payload["type"] == "batch.done"
    assert payload["data"]["model_version"] == "v1"
    assert received.headers["webhook-id"] == row.id == webhook_deliveries.delivery_id("once", "batch.done")


def test_only_one_caller_makes_an_attempt(container: Container, receiver: Receiver) -> None:
    receiver.answer("/race", 200)
    sender = sender_for(container, receiver)
    identifier = webhook_deliveries.record(
        container.db, "race", webhook_deliveries.BATCH_DONE, receiver.url("/race"), "{}", datetime.now(UTC)
    )
    results: list[str | None] = []
    start = threading.Barrier(6)

    def attempt() -> None:
        start.wait()
        results.append(webhook_deliveries.attempt(container.db, container.read_model, sender, identifier))

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert (results.count("delivered"), results.count(None)) == (1, 5)
    assert len(receiver.on("/race")) == 1


def test_retries_follow_the_schedule_on_ticks_and_every_attempt_is_listed(
    container: Container, receiver: Receiver
) -> None:
    receiver.answer("/tick", 500, 502, 204)
    sender = sender_for(container, receiver, retry_scale=0.0)
    batch_done_webhooks.handle(
        predictions("tick", receiver.url("/tick")),
        CONTEXT,
        db=container.db,
        read_model=container.read_model,
        webhook_sender=sender,
    )
    (row,) = rows_of(container, "tick")
    assert (row.state, row.attempt_count) == ("pending", 1)
    for _ in range(2):
        webhook_retries.handle(
            WebhookTick(), CONTEXT, db=container.db, read_model=container.read_model, webhook_sender=sender
        )
    body = container.read_model.deliveries_json("tick")
    assert body is not None
    (listed,) = msgspec.json.decode(body)["deliveries"]
    assert listed["state"] == "delivered"
    assert [(a["status"], a["error"]) for a in listed["attempts"]] == [
        (500, "HTTP 500"),
        (502, "HTTP 502"),
        (204, None),
    ]
    assert all(a["duration_ms"] >= 0 for a in listed["attempts"])


def test_a_retry_not_yet_due_is_not_attempted(container: Container, receiver: Receiver) -> None:
    receiver.answer("/later", 500)
    sender = sender_for(container, receiver, retry_scale=1.0)  # the real schedule: 5 s ±20%
    batch_done_webhooks.handle(
        predictions("later", receiver.url("/later")),
        CONTEXT,
        db=container.db,
        read_model=container.read_model,
        webhook_sender=sender,
    )
    webhook_retries.handle(
        WebhookTick(), CONTEXT, db=container.db, read_model=container.read_model, webhook_sender=sender
    )
    (row,) = rows_of(container, "later")
    assert (row.state, row.attempt_count) == ("pending", 1)
    assert len(receiver.on("/later")) == 1
    assert row.next_attempt_at is not None
    waited = (row.next_attempt_at.replace(tzinfo=UTC) - row.updated_at.replace(tzinfo=UTC)).total_seconds()
    assert 4.0 <= waited <= 6.0


def test_dns_rebinding_is_refused_at_delivery(container: Container, receiver: Receiver) -> None:
    """The name resolved to a public address when the batch was accepted, to loopback now."""
    sender = sender_for(
        container,
        receiver,
        policy=UrlPolicy(),
        resolver=lambda host, port: ["127.0.0.1"],
        retry_scale=1.0,
    )
    batch_done_webhooks.handle(
        predictions("rebind", receiver.url("/rebind", host="hooks.test")),
        CONTEXT,
        db=container.db,
        read_model=container.read_model,
        webhook_sender=sender,
    )
    (row,) = rows_of(container, "rebind")
    assert row.state == "pending"  # a name may resolve properly later: retried on the schedule
    assert row.history[0]["status"] is None
    assert "loopback" in row.history[0]["error"]
    assert receiver.on("/rebind") == []


# -- batch.failed ----------------------------------------------------------------------------


def dead_letter(batch_id: str, callback: str | None, **fields: object) -> Delivery:
    body = {
        "schema_version": 1,
        "batch_id": batch_id,
        "subjects": ["a"],
        "features": [[1.0]],
        "submitted_at": "2026-01-01T00:00:00Z",
        "callback_url": callback,
        **fields,
    }
    return Delivery(
        topic=topology.dead_letter_topic(topology.PREDICTION_REQUESTS),
        data=msgspec.json.encode(body),
        attributes={"batch_id": batch_id, "svmflow_error": "model v1 expects 4 features per row, got 1"},
        message_id=f"dl-{batch_id}",
    )


def test_a_dead_lettered_batch_is_notified_with_the_reason(container: Container, receiver: Receiver) -> None:
    receiver.answer("/failed", 200)
    batch_failed_webhooks.handle(
        dead_letter("dead", receiver.url("/failed")),
        CONTEXT,
        db=container.db,
        read_model=container.read_model,
        webhook_sender=sender_for(container, receiver),
    )
    (received,) = receiver.on("/failed")
    payload = standardwebhooks.Webhook(SECRET).verify(received.body.decode(), received.headers)
    assert payload["type"] == "batch.failed"
    assert payload["data"]["reason"] == "model v1 expects 4 features per row, got 1"
    assert rows_of(container, "dead")[0].state == "delivered"


def test_no_failure_notice_for_a_predicted_batch_a_bulk_chunk_or_an_unreadable_letter(
    container: Container, receiver: Receiver
) -> None:
    sender = sender_for(container, receiver)
    now = datetime.now(UTC)
    with container.db.transaction() as session:
        session.add(
            PredictionBatch(
                batch_id="predicted", model_version="v1", record_count=1, submitted_at=now, predicted_at=now
            )
        )
    bulk = {"job_id": "j", "chunk": 0, "output": "o", "model_version": "v1", "model_sha256": "x"}
    unreadable = Delivery(
        topic=topology.dead_letter_topic(topology.PREDICTION_REQUESTS),
        data=b"{not json",
        attributes={"batch_id": "junk"},
        message_id="dl-junk",
    )
    for letter in (
        dead_letter("predicted", receiver.url("/nope")),
        dead_letter("chunk", receiver.url("/nope"), bulk=bulk),
        dead_letter("no-url", None),
        unreadable,
    ):
        batch_failed_webhooks.handle(
            letter, CONTEXT, db=container.db, read_model=container.read_model, webhook_sender=sender
        )
    with container.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0
    assert receiver.on("/nope") == []


# -- wiring ----------------------------------------------------------------------------------


def test_the_webhook_functions_are_wired(container: Container) -> None:
    assert topology.FUNCTIONS["batch_done_webhooks"][0] == topology.PREDICTIONS
    assert topology.FUNCTIONS["batch_failed_webhooks"][0] == "prediction-requests-dead-letter"
    assert topology.FUNCTIONS["webhook_retries"][0] == topology.WEBHOOK_TICKS
    for name in ("batch_done_webhooks", "batch_failed_webhooks", "webhook_retries"):
        processor = container.processor(name)
        assert processor.topic == topology.FUNCTIONS[name][0]
    assert container.processor("webhook_retries").contract is WebhookTick


def test_the_ticker_publishes_ticks_until_stopped() -> None:
    publisher = RecordingPublisher()
    ticker = Ticker(publisher, 0.02).start()
    deadline = time.monotonic() + 5
    while len(publisher.on(topology.WEBHOOK_TICKS)) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    ticker.stop()
    ticks = publisher.on(topology.WEBHOOK_TICKS)
    assert len(ticks) >= 3
    assert contracts.decode(ticks[0].data, WebhookTick) == WebhookTick()
    count = len(publisher.messages)
    time.sleep(0.1)
    assert len(publisher.messages) == count


def test_the_scheduler_s_tick_decodes() -> None:
    """What the Cloud Scheduler job sends (infra/scheduler.tf): the schema version and nothing else."""
    assert contracts.decode(b'{"schema_version":1}', WebhookTick) == WebhookTick()


def test_a_tick_past_its_budget_leaves_the_rest_to_the_next(
    container: Container, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.answer("/budget", 200)
    sender = sender_for(container, receiver)
    for batch_id in ("budget-1", "budget-2"):
        webhook_deliveries.record(
            container.db,
            batch_id,
            webhook_deliveries.BATCH_DONE,
            receiver.url("/budget"),
            "{}",
            datetime.now(UTC),
        )
    monkeypatch.setattr(webhook_retries, "BUDGET_SECONDS", -1.0)  # spent before the first attempt
    webhook_retries.handle(
        WebhookTick(), CONTEXT, db=container.db, read_model=container.read_model, webhook_sender=sender
    )
    assert receiver.on("/budget") == []
    monkeypatch.setattr(webhook_retries, "BUDGET_SECONDS", 240.0)
    webhook_retries.handle(
        WebhookTick(), CONTEXT, db=container.db, read_model=container.read_model, webhook_sender=sender
    )
    assert len(receiver.on("/budget")) == 2
