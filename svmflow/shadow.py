"""Shadow scoring: a challenger that passed the gate scores live batches beside the champion before it
is promoted. Its answers are never returned; the prediction function counts where they would have
differed (flips), prediction-to-db adds the counts up, and once enough records were scored the
training function promotes it with the count and a few examples in the promotion record."""

from __future__ import annotations

import logging

import numpy as np

from svmflow.contracts import SHADOW_EXAMPLES, PredictionRequest, ShadowFlip, ShadowScores
from svmflow.model_registry import ServedModel, ShadowPointer

log = logging.getLogger(__name__)


def shadow_scores(
    request: PredictionRequest,
    champion: ServedModel,
    labels: np.ndarray,
    pointer: ShadowPointer,
    shadow: ServedModel,
) -> ShadowScores | None:
    """The shadow's flips on one batch, or None when it does not shadow the model serving it (it was
    stored beside another champion, or it has been promoted) or cannot read these rows."""
    if pointer.champion_version != champion.version or shadow.version == champion.version:
        return None
    features = np.asarray(request.features, dtype=np.float64)
    if features.shape[1] != shadow.model.n_features:
        return None
    try:
        shadow_labels, _ = shadow.model.predict(features)
    except (ValueError, FloatingPointError):
        log.warning(
            "shadow model %s could not score batch %s", shadow.version, request.batch_id, exc_info=True
        )
        return None
    flipped = np.flatnonzero(shadow_labels != labels)
    return ShadowScores(
        version=shadow.version,
        champion_version=champion.version,
        records=len(labels),
        flips=len(flipped),
        examples=[
            ShadowFlip(
                batch_id=request.batch_id,
                subject=request.subjects[i],
                label=int(labels[i]),
                shadow_label=int(shadow_labels[i]),
            )
            for i in flipped[:SHADOW_EXAMPLES]
        ],
        promote_after=pointer.promote_after,
    )
