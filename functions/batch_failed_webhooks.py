"""Cloud Function ``batch_failed_webhooks``: a failed batch gets its completion webhook."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def batch_failed_webhooks(cloud_event: Any) -> None:
    run("batch_failed_webhooks", cloud_event)
