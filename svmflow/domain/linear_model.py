"""A linear SVM as plain numbers: safe to store, fast to load, identical to scikit-learn.

The artifact holds the scaler's mean and scale, the weights and the bias as JSON. Serving applies
exactly the operations scikit-learn applies (``(X - mean) / scale``, then ``X @ coef.T + intercept``)
in the same order and precision, so labels and scores match ``Pipeline.predict`` bit for bit, with no
unpickling anywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from svmflow.domain.explanations import Explainer

ARTIFACT_FORMAT = "svmflow.linear-svm/1"


class _Artifact(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    feature_names: list[str]
    classes: list[int]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float


@dataclass(frozen=True, eq=False)
class LinearModel:
    feature_names: tuple[str, ...]
    classes: NDArray[np.int64]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    coef: NDArray[np.float64]  # shape (1, n_features), as scikit-learn keeps it
    intercept: NDArray[np.float64]  # shape (1,)

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[1])

    @classmethod
    def from_pipeline(cls, pipeline: Any, feature_names: list[str]) -> LinearModel:
        scaler, svm = pipeline[0], pipeline[-1]
        if svm.coef_.shape[0] != 1:
            raise ValueError("only binary linear models are supported")
        return cls(
            feature_names=tuple(feature_names),
            classes=np.asarray(svm.classes_, dtype=np.int64),
            mean=np.asarray(scaler.mean_, dtype=np.float64),
            scale=np.asarray(scaler.scale_, dtype=np.float64),
            coef=np.asarray(svm.coef_, dtype=np.float64),
            intercept=np.asarray(svm.intercept_, dtype=np.float64),
        )

    def decision_function(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        # In place where scikit-learn allocates: the same arithmetic in the same order, fewer copies.
        scaled = features - self.mean
        scaled /= self.scale
        scores = scaled @ self.coef.T
        scores += self.intercept
        return scores.ravel()

    def predict(self, features: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Labels and signed distances to the margin (positive means ``classes[1]``)."""
        scores = self.decision_function(features)
        return self.classes.take(scores > 0), scores

    @cached_property
    def explainer(self) -> Explainer:
        """Built once per model: every prediction message carries it, so the read model can explain."""
        return Explainer(
            feature_names=list(self.feature_names),
            classes=self.classes.tolist(),
            mean=self.mean.tolist(),
            scale=self.scale.tolist(),
            coef=self.coef.tolist(),
            intercept=self.intercept.tolist(),
        )

    @cached_property
    def explainer_json(self) -> msgspec.Raw:
        """The explainer encoded once: a message embeds these bytes as they are."""
        return msgspec.Raw(msgspec.json.encode(self.explainer))

    def to_bytes(self) -> bytes:
        artifact = _Artifact(
            format=ARTIFACT_FORMAT,
            feature_names=list(self.feature_names),
            classes=self.classes.tolist(),
            mean=self.mean.tolist(),
            scale=self.scale.tolist(),
            coef=self.coef.ravel().tolist(),
            intercept=float(self.intercept[0]),
        )
        return msgspec.json.format(msgspec.json.encode(artifact), indent=2)

    @classmethod
    def from_bytes(cls, data: bytes) -> LinearModel:
        artifact = msgspec.json.decode(data, type=_Artifact)
        if artifact.format != ARTIFACT_FORMAT:
            raise ValueError(f"unknown model format {artifact.format!r}")
        width = len(artifact.feature_names)
        if not (len(artifact.mean) == len(artifact.scale) == len(artifact.coef) == width):
            raise ValueError("model artifact is inconsistent: vector lengths differ")
        if len(artifact.classes) != 2:
            raise ValueError("model artifact must have exactly two classes")
        return cls(
            feature_names=tuple(artifact.feature_names),
            classes=np.asarray(artifact.classes, dtype=np.int64),
            mean=np.asarray(artifact.mean, dtype=np.float64),
            scale=np.asarray(artifact.scale, dtype=np.float64),
            coef=np.asarray(artifact.coef, dtype=np.float64).reshape(1, width),
            intercept=np.asarray([artifact.intercept], dtype=np.float64),
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
