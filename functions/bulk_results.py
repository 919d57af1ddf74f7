"""Cloud Function ``bulk_results``: Writes a bulk chunk's results next to its input file and
assembles the output after the last chunk."""

from __future__ import annotations

from typing import Any

import functions_framework

from functions._entry import run


@functions_framework.cloud_event
def bulk_results(cloud_event: Any) -> None:
    run("bulk_results", cloud_event)
