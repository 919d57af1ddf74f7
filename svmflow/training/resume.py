"""What a training job already did before it failed to record its outcome."""

from __future__ import annotations

from svmflow.contracts import ModelEvent, TrainingRequest
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
        previous_version=metrics.champion_version,
        challenger=metrics.challenger,
        champion=metrics.champion,
        record=metrics.record,
        training=metrics.training,
        feedback_rows=metadata.feedback_rows,
        train_size=metadata.train_size,
        new_labels=metrics.new_labels,
        data_fingerprint=metadata.data_fingerprint,
        artifact_uri=registry.uri(pointer.version),
        n_features=metrics.n_features,
        feature_names=metrics.feature_names,
        finished_at=pointer.promoted_at,
    )
