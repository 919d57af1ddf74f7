"""Who the caller is, and what only an operator may do."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from api.auth import Caller
from api.models import Me
from api.predict import json_response


def caller(request: Request) -> Caller:
    return request.state.caller  # type: ignore[no-any-return]


async def me(request: Request) -> Response:
    """The caller's role, so a client (the console) can tell a valid key and show what it may do."""
    who = caller(request)
    return json_response(Me(role=who.role, operator=who.role == "operator"))
