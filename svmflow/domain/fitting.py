"""Fitting a linear SVM on any number of features and classes: standardise, then ``LinearSVC``.

Two classes give one decision function; three or more give scikit-learn's one-vs-rest, one weight row
per class. Either way the result is a ``LinearModel``, served with numpy alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from svmflow.domain.linear_model import LinearModel

ClassWeight = Literal["none", "balanced"]


class TrainingDataError(ValueError):
    """The training data cannot produce a model (empty, one class only, ragged rows)."""


def fit_linear_svm(
    x: NDArray[np.float64],
    y: NDArray[np.int64],
    feature_names: Sequence[str],
    *,
    sample_weight: NDArray[np.float64] | None = None,
    c: float = 1.0,
    class_weight: ClassWeight = "none",
) -> LinearModel:
    # Imported here: scikit-learn takes seconds to import and only training needs it, not serving.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if len(x) == 0:
        raise TrainingDataError("no training rows")
    if x.shape[1] != len(feature_names):
        raise TrainingDataError(f"{x.shape[1]} feature columns for {len(feature_names)} feature names")
    present = np.unique(y)
    if len(present) < 2:
        raise TrainingDataError(f"training needs at least two classes, got {present.tolist()}")
    svc = LinearSVC(
        C=c,
        dual="auto",
        max_iter=20_000,
        random_state=0,
        class_weight="balanced" if class_weight == "balanced" else None,
    )
    pipeline = make_pipeline(StandardScaler(), svc)
    pipeline.fit(x, y, linearsvc__sample_weight=sample_weight)
    return LinearModel.from_pipeline(pipeline, feature_names)
