"""Handing a message to Pub/Sub from a request, and the 503 the caller gets when the bus refuses it."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from api.errors import UnavailableError
from api.service import Service
from svmflow.contracts import Contract
from svmflow.messaging import publish, valid_traceparent


def incoming_traceparent(request: Request) -> str | None:
    """The caller's W3C ``traceparent``, carried on into the message; a malformed one is dropped."""
    return valid_traceparent(request.headers.get("traceparent"))


async def publish_or_unavailable(
    service: Service,
    topic: str,
    message: Contract,
    *,
    unavailable: str,
    batch_id: str | None = None,
    traceparent: str | None = None,
) -> None:
    """Publish and wait for the bus; on failure log it and answer 503 ``unavailable`` with Retry-After.

    Nothing was accepted when the publish fails, so the client may simply retry.
    """
    try:
        await run_in_threadpool(
            publish, service.publisher, topic, message, batch_id=batch_id, traceparent=traceparent
        )
    except Exception as exc:
        service.log.exception("publish failed", extra={"batch_id": batch_id} if batch_id else None)
        raise UnavailableError(unavailable, headers={"Retry-After": "2"}) from exc
