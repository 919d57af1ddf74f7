"""Cloud Function ``training_to_cache``: Caches the current model, model history and jobs in Redis."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def training_to_cache(cloud_event: Any) -> None:
    run("training_to_cache", cloud_event)
