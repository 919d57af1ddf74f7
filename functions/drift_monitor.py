"""Cloud Function ``drift_monitor``: input drift per model version against its training data."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def drift_monitor(cloud_event: Any) -> None:
    run("drift_monitor", cloud_event)
