"""Cloud Function ``training``: Trains a challenger, evaluates it against the champion, promotes it or not."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def training(cloud_event: Any) -> None:
    run("training", cloud_event)
