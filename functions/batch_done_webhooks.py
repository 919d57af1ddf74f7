"""Cloud Function ``batch_done_webhooks``: a predicted batch gets its completion webhook."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def batch_done_webhooks(cloud_event: Any) -> None:
    run("batch_done_webhooks", cloud_event)
