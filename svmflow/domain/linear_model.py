"""A linear SVM as plain numbers: safe to store, fast to load, identical to scikit-learn.

The artifact holds the scaler's mean and scale, the weights and the bias as JSON. Serving applies
exactly the operations scikit-learn applies (``(X - mean) / scale``, then ``X @ coef.T + intercept``)
in the same order and precision, so labels and scores match ``Pipeline.predict`` bit for bit, with no
unpickling anywhere.

A binary model has one decision function (positive means ``classes[1]``); a model of three or more
classes is one-vs-rest, with one row of weights and one intercept per class, and predicts the class
whose score is highest (scikit-learn's argmax, ties to the first class). The two keep separate artifact
formats, so every binary artifact stays byte for byte what it was.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypedDict

import msgspec
import numpy as np
from numpy.typing import NDArray

from svmflow.domain.explanations import Explainer

ARTIFACT_FORMAT = "svmflow.linear-svm/1"
MULTICLASS_ARTIFACT_FORMAT = "svmflow.linear-svm-ovr/1"


class _Format(msgspec.Struct):
    format: str


class _Artifact(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    feature_names: list[str]
    classes: list[int]
    mean: list[float]
    scale: list[float]
    coef: list[float]
    intercept: float


class _MultiClassArtifact(msgspec.Struct, forbid_unknown_fields=True):
    format: str
    feature_names: list[str]
    classes: list[int]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]  # one row per class, in the order of ``classes``
    intercept: list[float]


class _WeightLists(TypedDict):
    feature_names: list[str]
    classes: list[int]
    mean: list[float]
    scale: list[float]
    coef: list[list[float]]
    intercept: list[float]


@dataclass(frozen=True, eq=False)
class LinearModel:
    feature_names: tuple[str, ...]
    classes: NDArray[np.int64]
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]
    # Shape (1, n_features) for a binary model, (n_classes, n_features) otherwise, as scikit-learn
    # keeps it; ``intercept`` has one entry per row.
    coef: NDArray[np.float64]
    intercept: NDArray[np.float64]

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def is_binary(self) -> bool:
        return bool(self.coef.shape[0] == 1)

    @classmethod
    def from_pipeline(cls, pipeline: Any, feature_names: Sequence[str]) -> LinearModel:
        scaler, svm = pipeline[0], pipeline[-1]
        rows, classes = svm.coef_.shape[0], len(svm.classes_)
        if not (rows == 1 and classes == 2) and not (rows == classes >= 3):
            raise ValueError(
                f"expected a binary or one-vs-rest linear model, got {rows} weight rows for {classes} classes"
            )
        return cls(
            feature_names=tuple(str(name) for name in feature_names),
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
        # scikit-learn's shapes: one column per class, except a binary model's single decision.
        return scores.ravel() if self.is_binary else scores

    def predict(self, features: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Labels and one score per row: for a binary model the signed distance to the margin
        (positive means ``classes[1]``), otherwise the score of the predicted class."""
        scores = self.decision_function(features)
        if self.is_binary:
            return self.classes.take(scores > 0), scores
        winners = scores.argmax(axis=1)
        return self.classes.take(winners), np.take_along_axis(scores, winners[:, None], axis=1).ravel()

    def class_scores(self, features: NDArray[np.float64]) -> NDArray[np.float64]:
        """Shape (rows, n_classes), columns in the order of ``classes``; the argmax of a row is its label.

        A binary model has a single decision ``s`` for ``classes[1]``, shown as ``(-s, s)`` so both
        kinds of model read the same way (at ``s == 0`` the argmax is ``classes[0]``, as ``predict``).
        """
        scores = self.decision_function(features)
        if self.is_binary:
            return np.column_stack((-scores, scores))
        return scores

    def _weight_lists(self) -> _WeightLists:
        """The scaler and every weight row as plain lists, as the explainer and the one-vs-rest
        artifact both hold them."""
        return _WeightLists(
            feature_names=list(self.feature_names),
            classes=self.classes.tolist(),
            mean=self.mean.tolist(),
            scale=self.scale.tolist(),
            coef=self.coef.tolist(),
            intercept=self.intercept.tolist(),
        )

    @cached_property
    def explainer(self) -> Explainer:
        """Built once per model: every prediction message carries it, so the read model can explain."""
        return Explainer(**self._weight_lists())

    @cached_property
    def explainer_json(self) -> msgspec.Raw:
        """The explainer encoded once: a message embeds these bytes as they are."""
        return msgspec.Raw(msgspec.json.encode(self.explainer))

    def to_bytes(self) -> bytes:
        if not self.is_binary:
            return msgspec.json.format(
                msgspec.json.encode(
                    _MultiClassArtifact(format=MULTICLASS_ARTIFACT_FORMAT, **self._weight_lists())
                ),
                indent=2,
            )
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
        kind = msgspec.json.decode(data, type=_Format).format
        if kind == MULTICLASS_ARTIFACT_FORMAT:
            return cls._from_multiclass(msgspec.json.decode(data, type=_MultiClassArtifact))
        if kind != ARTIFACT_FORMAT:
            raise ValueError(f"unknown model format {kind!r}")
        artifact = msgspec.json.decode(data, type=_Artifact)
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

    @classmethod
    def _from_multiclass(cls, artifact: _MultiClassArtifact) -> LinearModel:
        width, classes = len(artifact.feature_names), len(artifact.classes)
        if classes < 3:
            raise ValueError("a one-vs-rest model artifact must have three classes or more")
        if len(set(artifact.classes)) != classes:
            raise ValueError("model artifact is inconsistent: classes repeat")
        if len(artifact.coef) != classes or len(artifact.intercept) != classes:
            raise ValueError("model artifact is inconsistent: one weight row and intercept per class")
        if not (len(artifact.mean) == len(artifact.scale) == width) or any(
            len(row) != width for row in artifact.coef
        ):
            raise ValueError("model artifact is inconsistent: vector lengths differ")
        return cls(
            feature_names=tuple(artifact.feature_names),
            classes=np.asarray(artifact.classes, dtype=np.int64),
            mean=np.asarray(artifact.mean, dtype=np.float64),
            scale=np.asarray(artifact.scale, dtype=np.float64),
            # C order, as scikit-learn keeps ``coef_``: the matrix product then runs the same kernel.
            coef=np.ascontiguousarray(artifact.coef, dtype=np.float64),
            intercept=np.asarray(artifact.intercept, dtype=np.float64),
        )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
