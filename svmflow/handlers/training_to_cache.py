"""training-to-cache: the current model, model history and recent jobs, for the predict API."""

from __future__ import annotations

from typing import Any

import msgspec

from svmflow.contracts import ModelEvent, decision_rank
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel

CHANGES_PRODUCTION = ("promoted", "rolled_back")


def job_entry(event: ModelEvent) -> dict[str, Any]:
    return msgspec.to_builtins(event)


def version_entry(event: ModelEvent) -> dict[str, Any]:
    return {
        "version": event.candidate_version,
        "decision": event.decision,
        "reason": event.reason,
        "job_id": event.job_id,
        "created_at": event.finished_at.isoformat(),
        "artifact_uri": event.artifact_uri,
        "data_fingerprint": event.data_fingerprint,
        "train_size": event.train_size,
        "n_features": event.n_features,
        "feature_names": event.feature_names,
        "evaluation": msgspec.to_builtins(event.challenger),
        "champion_evaluation": msgspec.to_builtins(event.champion),
        "new_labels": event.new_labels,
        "feedback_rows": event.feedback_rows,
        "decision_record": msgspec.to_builtins(event.record),
        "training": msgspec.to_builtins(event.training),
    }


def current_entry(event: ModelEvent, known: dict[str, Any] | None) -> dict[str, Any]:
    promoted = event.decision == "promoted"
    evaluation = msgspec.to_builtins(event.challenger) if promoted else None
    n_features = event.n_features if promoted else None
    feature_names = event.feature_names if promoted else None
    if known is not None:
        evaluation = evaluation if evaluation is not None else known.get("evaluation")
        n_features = n_features if n_features is not None else known.get("n_features")
        feature_names = feature_names if feature_names is not None else known.get("feature_names")
    return {
        "version": event.current_version,
        "since": event.finished_at.isoformat(),
        "decision": event.decision,
        "reason": event.reason,
        "job_id": event.job_id,
        "evaluation": evaluation,
        "n_features": n_features,
        "feature_names": feature_names,
    }


def handle(event: ModelEvent, context: EventContext, *, read_model: ReadModel) -> None:
    """Keyed by job id and version; the newest production change wins the current-model key."""
    read_model.put_job(
        event.job_id, job_entry(event), event.finished_at, decision_rank(event.decision, event.finished_at)
    )
    if event.rows is not None:
        rows = msgspec.to_builtins(event.rows)
        rows["as_of"] = event.finished_at.isoformat()
        rows["job_id"] = event.job_id
        read_model.put_training_rows(rows, event.finished_at)
    if event.candidate_version and event.decision in ("promoted", "rejected"):
        read_model.put_model_version(event.candidate_version, version_entry(event), event.finished_at)
    if event.decision in CHANGES_PRODUCTION and event.current_version:
        known = read_model.model_version(event.current_version)
        read_model.put_current_model(current_entry(event, known), event.finished_at)
