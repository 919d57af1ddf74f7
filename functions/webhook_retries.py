"""Cloud Function ``webhook_retries``: each scheduler tick retries the completion webhooks due."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def webhook_retries(cloud_event: Any) -> None:
    run("webhook_retries", cloud_event)
