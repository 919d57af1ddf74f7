"""Cloud Function ``dead_letter_replay``: publishes an operator's dead letter again to its topic."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def dead_letter_replay(cloud_event: Any) -> None:
    run("dead_letter_replay", cloud_event)
