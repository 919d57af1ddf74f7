"""Cloud Function ``training_to_db``: Records training jobs and model versions in Postgres."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def training_to_db(cloud_event: Any) -> None:
    run("training_to_db", cloud_event)
