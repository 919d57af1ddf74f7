"""Cloud Function ``feedback_to_performance``: live performance per model version from ratings."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def feedback_to_performance(cloud_event: Any) -> None:
    run("feedback_to_performance", cloud_event)
