"""training-to-cache: the current model, model history and recent jobs, for the predict API."""

from __future__ import annotations

from datetime import datetime

from svmflow.contracts import ModelEvent, decision_rank
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel
from svmflow.views import (
    current_model_view,
    job_view,
    model_version_view,
    rolled_back_view,
    training_rows_view,
)

CHANGES_PRODUCTION = ("promoted", "rolled_back")


def handle(event: ModelEvent, context: EventContext, *, read_model: ReadModel) -> None:
    """Keyed by job id and version; the newest production change wins the current-model key."""
    read_model.put_job(job_view(event), decision_rank(event.decision, event.finished_at))
    if event.rows is not None:
        read_model.put_training_rows(training_rows_view(event, event.rows), event.finished_at)
    if event.candidate_version and event.decision in ("promoted", "rejected", "shadow"):
        read_model.put_model_version(model_version_view(event), event.finished_at)
    if event.decision == "rolled_back" and event.previous_version:
        left = read_model.model_version(event.previous_version)
        if left is not None:  # it keeps its place in the list, marked with the rollback and its reason
            read_model.put_model_version(
                rolled_back_view(left, event), datetime.fromisoformat(left.created_at)
            )
    if event.decision in CHANGES_PRODUCTION and event.current_version:
        known = read_model.model_version(event.current_version)
        read_model.put_current_model(current_model_view(event, known), event.finished_at)
