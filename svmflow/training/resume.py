"""What a training job already did before it failed to record its outcome."""

from __future__ import annotations

import msgspec

from svmflow.contracts import Evaluation, ModelEvent, TrainingRequest
from svmflow.domain.records import DecisionRecord, TrainingSummary
from svmflow.model_registry import ModelRegistry


def promoted_earlier(job_id: str, request: TrainingRequest, registry: ModelRegistry) -> ModelEvent | None:
    """The event of a promotion this job already made before it failed to record its outcome.

    Without this, the retry would train again, find its own model as the champion with no new labels,
    and report a rejection while its model serves."""
    pointer, _ = registry.pointer()
    if pointer is None:
        return None
    metadata = registry.metadata(pointer.version)
    if metadata.job_id != job_id:
        return None
    metrics = metadata.metrics
    return ModelEvent(
        job_id=job_id,
        request_id=request.request_id,
        decision="promoted",
        reason=pointer.reason,
        candidate_version=pointer.version,
        current_version=pointer.version,
        previous_version=metrics.get("champion_version"),
        challenger=msgspec.convert(metrics["challenger"], Evaluation),
        champion=msgspec.convert(metrics["champion"], Evaluation | None),
        record=msgspec.convert(metrics.get("record"), DecisionRecord | None),
        training=msgspec.convert(metrics.get("training"), TrainingSummary | None),
        feedback_rows=metadata.feedback_rows,
        train_size=metadata.train_size,
        new_labels=int(metrics.get("new_labels", 0)),
        data_fingerprint=metadata.data_fingerprint,
        artifact_uri=registry.uri(pointer.version),
        n_features=metrics.get("n_features"),
        feature_names=metrics.get("feature_names"),
        finished_at=pointer.promoted_at,
    )
