"""Dead letters for operators: the listing from the read model, and a replay as a command.

A replay is published to ``dead-letter-replays``; the replay function publishes the message again to
the topic it came from and takes it out of the listing (CQRS: this API only reads Redis and publishes).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from api.errors import NotFoundError
from api.models import DeadLetterListing, ReplayAccepted
from api.operator import caller
from api.predict import _limit, json_response
from api.publishing import publish_or_unavailable
from api.service import Service
from svmflow import topology
from svmflow.contracts import DeadLetterReplay

MAX_MESSAGE_ID = 200


async def list_dead_letters(request: Request) -> Response:
    caller(request).require_operator("listing dead letters")
    service: Service = request.app.state.service
    items = await run_in_threadpool(service.read_model.dead_letters, _limit(request))
    return json_response(DeadLetterListing(items=items))


async def replay(request: Request) -> Response:
    who = caller(request)
    who.require_operator("replaying a dead letter")
    service: Service = request.app.state.service
    message_id: str = request.path_params["message_id"]
    letter = None
    if len(message_id) <= MAX_MESSAGE_ID:
        letter = await run_in_threadpool(service.read_model.dead_letter, message_id)
    if letter is None:
        raise NotFoundError(
            f"no dead letter {message_id!r} is waiting (replayed already, or never dead-lettered)",
            field="message_id",
        )
    command = DeadLetterReplay(
        request_id=uuid.uuid4().hex,
        message_id=letter.message_id,
        topic=letter.topic,
        requested_by=who.identity,
        requested_at=datetime.now(UTC),
    )
    await publish_or_unavailable(
        service,
        topology.DEAD_LETTER_REPLAYS,
        command,
        unavailable="the replay could not be handed to Pub/Sub; nothing was requested, retry",
        batch_id=letter.batch_id,
    )
    return json_response(
        ReplayAccepted(message_id=letter.message_id, topic=letter.topic, status="accepted"), 202
    )
