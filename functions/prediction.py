"""Cloud Function ``prediction``.

Predicts a batch from prediction-requests with the production model; publishes to predictions.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def prediction(cloud_event: Any) -> None:
    run("prediction", cloud_event)
