"""Cloud Function ``prediction_dead_letters``: a dead-lettered prediction request fails its batch."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def prediction_dead_letters(cloud_event: Any) -> None:
    run("prediction_dead_letters", cloud_event)
