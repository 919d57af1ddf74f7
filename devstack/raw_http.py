"""Plain HTTP calls that return the status as it is, for tests and benchmarks that check status codes
themselves (the typed client, ``svmflow.client``, turns them into results and errors instead)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class RawHttp:
    ingest_url: str
    predict_url: str
    api_key: str

    def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any, dict[str, str]]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 (loopback URLs)
        request.add_header("X-API-Key", self.api_key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, raw, headers = response.status, response.read(), dict(response.headers)
        except urllib.error.HTTPError as error:
            status, raw, headers = error.code, error.read(), dict(error.headers)
        try:
            return status, json.loads(raw or b"null"), headers
        except json.JSONDecodeError:
            return status, raw.decode(errors="replace"), headers
