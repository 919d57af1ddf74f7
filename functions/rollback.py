"""Cloud Function ``rollback``: Re-points production at an earlier model version for an operator."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def rollback(cloud_event: Any) -> None:
    run("rollback", cloud_event)
