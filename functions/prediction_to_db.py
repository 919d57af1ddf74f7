"""Cloud Function ``prediction_to_db``: Persists a batch's predictions in Postgres."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def prediction_to_db(cloud_event: Any) -> None:
    run("prediction_to_db", cloud_event)
