"""Cloud Function ``feedback_to_training``.

Turns ratings into training rows and requests a retrain after enough new labels.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def feedback_to_training(cloud_event: Any) -> None:
    run("feedback_to_training", cloud_event)
