"""prediction: a batch of records in, labels and scores out, with the production model."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from svmflow import contracts, topology
from svmflow.contracts import BulkChunk, BulkPredictions, PredictionRequest, Predictions
from svmflow.errors import ArtifactIntegrityError, ModelNotFoundError, PermanentError
from svmflow.messaging import EventContext, publish
from svmflow.model_registry import ModelServer, ServedModel, SpecMismatchError
from svmflow.ports import Publisher
from svmflow.shadow import shadow_scores


def _scored(request: PredictionRequest, served: ServedModel) -> tuple[np.ndarray, np.ndarray]:
    features = np.asarray(request.features, dtype=np.float64)
    if features.shape[1] != served.model.n_features:
        raise PermanentError(
            f"model {served.version} expects {served.model.n_features} features per row, "
            f"got {features.shape[1]}"
        )
    labels, scores = served.model.predict(features)
    # JSON has no NaN or infinity, but finite features near 1e308 can overflow the decision function.
    if not np.isfinite(scores).all():
        row = int(np.argmin(np.isfinite(scores)))
        raise PermanentError(f"features of row {row} ({request.subjects[row]!r}) overflow the model")
    return labels, scores


def predict(request: PredictionRequest, models: ModelServer, message: bytes = b"") -> Predictions:
    """``message``, the request as received, lets the features be forwarded without re-encoding."""
    served = models.current()
    labels, scores = _scored(request, served)
    shadow = models.shadow()
    return Predictions(
        batch_id=request.batch_id,
        subjects=request.subjects,
        # The field is typed for decoding; when encoding, a Raw of the same JSON stands in for it.
        features=contracts.raw_features(message) if message else request.features,  # type: ignore[arg-type]
        labels=labels.tolist(),
        scores=scores.tolist(),
        model_version=served.version,
        classes=models.class_names,
        submitted_at=request.submitted_at,
        predicted_at=datetime.now(UTC),
        # Encoded once per model: embedding it costs a copy of a few hundred bytes per message.
        explainer=served.model.explainer_json,  # type: ignore[arg-type]  # its Raw JSON, as for features
        shadow=None if shadow is None else shadow_scores(request, served, labels, *shadow),
        callback_url=request.callback_url,
    )


def predict_chunk(request: PredictionRequest, chunk: BulkChunk, models: ModelServer) -> BulkPredictions:
    """One chunk of a bulk file, with the version pinned for the file."""
    try:
        served = models.pinned(chunk.model_version, chunk.model_sha256)
    except (ModelNotFoundError, ArtifactIntegrityError, SpecMismatchError) as exc:
        raise PermanentError(f"bulk job {chunk.job_id}: {exc}") from exc
    try:
        lines = [int(s) for s in request.subjects]
    except ValueError as exc:
        raise PermanentError(f"bulk job {chunk.job_id}: a chunk's subjects must be line numbers") from exc
    labels, scores = _scored(request, served)
    return BulkPredictions(
        job_id=chunk.job_id,
        chunk=chunk.chunk,
        output=chunk.output,
        model_version=served.version,
        lines=lines,
        ids=chunk.ids,
        labels=labels.tolist(),
        scores=scores.tolist(),
        predicted_at=datetime.now(UTC),
    )


def handle(
    request: PredictionRequest, context: EventContext, *, models: ModelServer, publisher: Publisher
) -> None:
    """Stateless: a redelivery publishes the same predictions again, which the sinks absorb."""
    if request.bulk is not None:
        answer = predict_chunk(request, request.bulk, models)
        publish(
            publisher,
            topology.BULK_PREDICTIONS,
            answer,
            batch_id=request.batch_id,
            traceparent=context.traceparent,
        )
        return
    result = predict(request, models, context.data)
    publish(
        publisher,
        topology.PREDICTIONS,
        result,
        batch_id=request.batch_id,
        traceparent=context.traceparent,
    )
