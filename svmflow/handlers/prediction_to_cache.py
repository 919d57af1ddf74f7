"""prediction-to-cache: make a batch's results pollable through the predict API."""

from __future__ import annotations

from svmflow import contracts
from svmflow.contracts import Predictions
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel
from svmflow.views import BatchResult, BatchView, ExplanationInputs, class_name_of


def batch_view(message: Predictions) -> BatchView:
    return BatchView(
        batch_id=message.batch_id,
        status="done",
        model_version=message.model_version,
        record_count=len(message.subjects),
        submitted_at=message.submitted_at,
        predicted_at=message.predicted_at,
        results=[
            BatchResult(subject=s, label=label, class_name=class_name_of(label, message.classes), score=score)
            for s, label, score in zip(message.subjects, message.labels, message.scores, strict=True)
        ],
    )


def explanation_inputs(message: Predictions, data: bytes) -> ExplanationInputs | None:
    """The features as they arrived (sliced out of the message, not re-encoded) and the explainer."""
    if message.explainer is None:
        return None
    features = bytes(contracts.raw_features(data)) if data else contracts.encode_value(message.features)
    return ExplanationInputs(features=features, explainer=contracts.encode_value(message.explainer))


def handle(message: Predictions, context: EventContext, *, read_model: ReadModel) -> None:
    """Keyed by batch id; when two predictions of one batch exist, the earliest is kept."""
    read_model.put_batch(batch_view(message), explanation_inputs(message, context.data))
