"""Smoke test of a deployed system: one batch in, its predictions out, through both APIs.

Standard library only, so it runs in any image with Python 3.

    python3 infra/scripts/smoke_test.py --ingest-url URL --predict-url URL --api-key KEY

Checks: a request without a key is refused; a batch is accepted (202); polling it answers
pending until the predictions arrive, then every subject has a label; an id that was never
issued is 404. Exits non-zero with the first failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from typing import Any

# Two rows of the banknote data set (variance, skewness, curtosis, entropy): one of each class.
SUBJECTS = ["smoke-genuine", "smoke-forged"]
FEATURES = [[3.6216, 8.6661, -2.8073, -0.44699], [-1.3971, 3.3191, -1.3927, -1.9948]]


class SmokeTestError(AssertionError):
    pass


def call(method: str, url: str, key: str | None, header: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (https URL given by the operator)
    request.add_header("Content-Type", "application/json")
    if key is not None:
        request.add_header(header, key)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw or b"null")
    except json.JSONDecodeError:
        return status, raw.decode(errors="replace")


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeTestError(message)
    print(f"ok  {message}")


def run(ingest_url: str, predict_url: str, key: str, header: str, wait_seconds: float) -> None:
    batches = f"{ingest_url.rstrip('/')}/v1/batches"
    body = {"subjects": SUBJECTS, "features": FEATURES}

    status, _ = call("POST", batches, None, header, body)
    expect(status in (401, 403), f"POST without an API key is refused ({status})")

    status, answer = call("POST", batches, key, header, body)
    expect(status == 202, f"POST /v1/batches is accepted ({status}: {answer})")
    batch_id = answer.get("batch_id") or answer.get("id")
    expect(bool(batch_id), f"the answer names the batch ({answer})")

    url = f"{predict_url.rstrip('/')}/v1/batches/{batch_id}"
    deadline = time.monotonic() + wait_seconds
    while True:
        status, answer = call("GET", url, key, header)
        expect(status in (200, 202), f"GET the batch answers 200, or 202 while pending ({status})")
        if status == 200 and answer.get("status") == "done":
            break
        if time.monotonic() > deadline:
            raise SmokeTestError(f"batch {batch_id} still pending after {wait_seconds:.0f} s")
        time.sleep(3)
    results = answer.get("results") or []
    expect(
        [r.get("subject") for r in results] == SUBJECTS and all(r.get("label") in (0, 1) for r in results),
        f"every subject has a label ({answer})",
    )

    status, _ = call("GET", f"{predict_url.rstrip('/')}/v1/batches/never-issued-0", key, header)
    expect(status == 404, f"an id that was never issued is 404 ({status})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ingest-url", required=True)
    parser.add_argument("--predict-url", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--api-key-header", default="X-API-Key")
    parser.add_argument("--wait", type=float, default=180.0, help="seconds to wait for predictions")
    args = parser.parse_args(argv)
    try:
        run(args.ingest_url, args.predict_url, args.api_key, args.api_key_header, args.wait)
    except SmokeTestError as failure:
        print(f"FAIL {failure}", file=sys.stderr)
        return 1
    print("smoke test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
