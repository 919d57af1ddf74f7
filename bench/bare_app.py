"""The floor of the ingest API: its server stack (uvicorn + Starlette) with an endpoint that reads the
body, decodes and checks it exactly as ``POST /v1/batches`` does (the same typed decoder and
``check_batch``), and answers 202; it publishes nothing. ``python -m bench.bare_app --port P``."""

from __future__ import annotations

import argparse

import msgspec
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from api.ingest import check_batch
from api.models import BatchSubmission

# As long as the ingest API's answer (244 bytes), so both write the same bytes back.
ANSWER = b'{"status":"pending","padding":"' + b"x" * 211 + b'"}'


_decoder = msgspec.json.Decoder(BatchSubmission)


async def accept(request: Request) -> Response:
    check_batch(_decoder.decode(await request.body()), None)
    return Response(ANSWER, status_code=202, media_type="application/json")


app = Starlette(routes=[Route("/v1/batches", accept, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
