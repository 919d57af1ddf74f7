"""Completion webhooks as stored work: record a delivery, claim it, attempt it, record the attempt.

Postgres holds every delivery and attempt; the read model gets the batch's deliveries after each
change. An attempt is claimed by pushing ``next_attempt_at`` past its timeout in one conditional
UPDATE, so the function that recorded it and the scheduler's tick never send the same attempt twice;
a process that dies mid-attempt leaves the claim to expire, and the tick tries again (receivers
deduplicate on ``webhook-id``, which every attempt of one delivery shares).
"""

from __future__ import annotations

import hashlib
import logging
import ssl
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import msgspec
from sqlalchemy import CursorResult, func, select, update

from svmflow.db.database import Database, as_utc
from svmflow.db.tables import WebhookDelivery, WebhookEndpoint
from svmflow.ports import Secrets
from svmflow.read_model import ReadModel, epoch_micros
from svmflow.views import BatchDeliveries, DeliveryAttemptView, DeliveryView
from svmflow.webhooks import delivery, schedule, signing
from svmflow.webhooks.urls import Resolver, UrlPolicy, system_resolver

log = logging.getLogger(__name__)

SECRET_NAME = "webhook-secret"  # noqa: S105 (the name of a secret, not its value)
BATCH_DONE = "batch.done"
BATCH_FAILED = "batch.failed"
DUE_PER_TICK = 200
# A claim outlives the attempt it covers (connect, TLS and response, each within the timeout).
CLAIM_MARGIN_SECONDS = 30.0


@dataclass
class Sender:
    """How attempts are made: the signing secrets, the SSRF policy, TLS trust and the schedule."""

    secrets: Secrets
    policy: UrlPolicy
    retry_scale: float = 1.0
    timeout_seconds: float = 10.0
    tls: ssl.SSLContext | None = None
    resolver: Resolver = system_resolver

    def signing_secrets(self) -> list[str]:
        # Read at each attempt: the adapter caches it, and a missing secret is a transient failure
        # (the message is redelivered) rather than a lost notification.
        return signing.parse_secrets(self.secrets.get(SECRET_NAME))

    @property
    def claim_seconds(self) -> float:
        return 3 * self.timeout_seconds + CLAIM_MARGIN_SECONDS


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    """The system's trust store, plus a private receiver's CA when one is configured."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def delivery_id(batch_id: str, event: str) -> str:
    return "msg_" + hashlib.sha256(f"{batch_id}\n{event}".encode()).hexdigest()[:32]


def event_body(event: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return msgspec.json.encode({"type": event, "timestamp": occurred_at, "data": data}).decode()


def record(db: Database, batch_id: str, event: str, url: str, body: str, now: datetime) -> str:
    """Record a delivery once (a redelivered event changes nothing); returns its id. An endpoint that
    answered 410 before gets nothing: the delivery is recorded as disabled."""
    identifier = delivery_id(batch_id, event)
    with db.transaction() as session:
        disabled = session.get(WebhookEndpoint, url) is not None
        db.insert_one_ignore(
            session,
            WebhookDelivery,
            {
                "id": identifier,
                "batch_id": batch_id,
                "event": event,
                "url": url,
                "body": body,
                "state": "disabled" if disabled else "pending",
                "attempt_count": 0,
                "history": [],
                "next_attempt_at": None if disabled else now,
                "created_at": now,
                "updated_at": now,
            },
        )
    return identifier


def due(db: Database, now: datetime, limit: int = DUE_PER_TICK) -> list[str]:
    with db.transaction() as session:
        rows = session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        )
        return list(rows)


def _claim(db: Database, identifier: str, now: datetime, seconds: float) -> WebhookDelivery | None:
    with db.transaction() as session:
        # An UPDATE's result is a CursorResult; Session.execute is typed for any statement's.
        claimed = cast(
            "CursorResult[Any]",
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == identifier,
                    WebhookDelivery.state == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + timedelta(seconds=seconds))
                .execution_options(synchronize_session=False)
            ),
        )
        if claimed.rowcount != 1:
            return None
        row = session.get(WebhookDelivery, identifier)
        assert row is not None
        session.expunge(row)
        return row


def _endpoint_disabled(db: Database, url: str) -> bool:
    with db.transaction() as session:
        return session.get(WebhookEndpoint, url) is not None


def attempt(db: Database, read_model: ReadModel, sender: Sender, identifier: str) -> str | None:
    """Make the due attempt of one delivery, if it is due and nobody else is making it; returns the
    delivery's state afterwards, or None when there was nothing to do."""
    now = datetime.now(UTC)
    row = _claim(db, identifier, now, sender.claim_seconds)
    if row is None:
        return None
    if _endpoint_disabled(db, row.url):
        _finish(db, row, None, "disabled", None, now)
        project(db, read_model, row.batch_id)
        return "disabled"
    body = row.body.encode()
    headers = signing.headers(sender.signing_secrets(), row.id, int(time.time()), body)
    started = datetime.now(UTC)
    result = delivery.post(
        row.url,
        body,
        headers,
        policy=sender.policy,
        resolver=sender.resolver,
        context=sender.tls,
        timeout=sender.timeout_seconds,
    )
    number = row.attempt_count + 1
    decision = schedule.after(result.outcome, number, scale=sender.retry_scale)
    state, next_at = {
        "delivered": ("delivered", None),
        "endpoint-disabled": ("disabled", None),
        "dead-lettered": ("failed", None),
        "retry": ("pending", datetime.now(UTC) + timedelta(seconds=decision.delay_seconds)),
    }[decision.step]
    entry = {
        "at": started.isoformat(),
        "status": result.status,
        "error": result.error,
        "duration_ms": result.elapsed_ms,
    }
    _finish(db, row, entry, state, next_at, datetime.now(UTC))
    if state == "disabled":
        with db.transaction() as session:
            db.insert_one_ignore(
                session,
                WebhookEndpoint,
                {"url": row.url, "disabled_at": now, "reason": (result.error or "410 Gone")[:500]},
            )
    log.log(
        logging.WARNING if state == "failed" else logging.INFO,
        "webhook attempt",
        extra={
            "webhook_id": row.id,
            "batch_id": row.batch_id,
            "attempt": number,
            "status": result.status,
            "error": result.error,
            "state": state,
        },
    )
    project(db, read_model, row.batch_id)
    return state


def _finish(
    db: Database,
    row: WebhookDelivery,
    entry: dict[str, Any] | None,
    state: str,
    next_at: datetime | None,
    now: datetime,
) -> None:
    with db.transaction() as session:
        current = session.get(WebhookDelivery, row.id)
        assert current is not None
        if entry is not None:
            current.history = [*current.history, entry]
            current.attempt_count = current.attempt_count + 1
        current.state = state
        current.next_attempt_at = next_at
        current.updated_at = now


def deliveries_view(rows: list[WebhookDelivery], batch_id: str) -> BatchDeliveries:
    return BatchDeliveries(
        batch_id=batch_id,
        deliveries=[
            DeliveryView(
                id=row.id,
                url=row.url,
                event=row.event,
                state=row.state,
                attempts=[msgspec.convert(a, DeliveryAttemptView) for a in row.history],
                next_attempt_at=as_utc(row.next_attempt_at) if row.next_attempt_at else None,
            )
            for row in rows
        ],
    )


def restore(db: Database, read_model: ReadModel, limit: int) -> int:
    """Put the deliveries of the ``limit`` most recently changed batches back in the read model (a
    rebuild); returns how many batches."""
    with db.transaction() as session:
        newest = (
            select(WebhookDelivery.batch_id, func.max(WebhookDelivery.updated_at).label("changed"))
            .group_by(WebhookDelivery.batch_id)
            .order_by(func.max(WebhookDelivery.updated_at).desc())
            .limit(limit)
        )
        batch_ids = [row.batch_id for row in session.execute(newest)]
    for batch_id in batch_ids:
        project(db, read_model, batch_id)
    return len(batch_ids)


def project(db: Database, read_model: ReadModel, batch_id: str) -> None:
    """Put the batch's deliveries in the read model, as of their latest change."""
    with db.transaction() as session:
        rows = list(
            session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.batch_id == batch_id)
                .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
            )
        )
        session.expunge_all()
    if rows:
        revision = max(epoch_micros(as_utc(r.updated_at)) for r in rows)
        read_model.put_deliveries(deliveries_view(rows, batch_id), revision)
