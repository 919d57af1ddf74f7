"""Cloud Function ``bulk_split``: Streams a bulk file from the bucket and publishes its rows in
chunks to prediction-requests."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def bulk_split(cloud_event: Any) -> None:
    run("bulk_split", cloud_event)
