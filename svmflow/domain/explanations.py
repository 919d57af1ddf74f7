"""Exact per-feature explanations of a linear model's decision.

For a linear model on standardised inputs the decision is ``sum_j coef[k, j] * (x_j - mean_j) / scale_j
+ intercept[k]``, so each term of the sum is exactly that feature's contribution: no sampling, no
surrogate model, one multiply per feature. A binary model has one decision (positive means
``classes[1]``); a multi-class one-vs-rest model has one decision, and so one set of contributions, per
class.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
import numpy as np
from numpy.typing import NDArray


class Explainer(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What a model version needs to explain its decisions: its scaler and its weights.

    ``coef`` has one row per decision function: one for a binary model, one per class otherwise.
    """

    feature_names: list[str]
    classes: list[int]
    mean: list[float]
    scale: list[float]
    coef: Annotated[list[list[float]], msgspec.Meta(min_length=1)]
    intercept: list[float]

    def __post_init__(self) -> None:
        width = len(self.feature_names)
        if len(self.mean) != width or len(self.scale) != width:
            raise ValueError("explainer: mean and scale need one entry per feature")
        if any(len(row) != width for row in self.coef):
            raise ValueError("explainer: every coef row needs one entry per feature")
        if len(self.intercept) != len(self.coef):
            raise ValueError("explainer: one intercept per coef row")
        if len(self.coef) not in (1, len(self.classes)):
            raise ValueError("explainer: one coef row (binary) or one per class")

    @property
    def decisions(self) -> list[int]:
        """The class each decision function argues for."""
        return [self.classes[-1]] if len(self.coef) == 1 else list(self.classes)


def contributions(explainer: Explainer, features: NDArray[np.float64]) -> NDArray[np.float64]:
    """Shape (decisions, rows, features): ``coef * standardised value``, summing (plus the intercept)
    to the decision function's score for that row and decision."""
    standardised = (features - np.asarray(explainer.mean)) / np.asarray(explainer.scale)
    coef = np.asarray(explainer.coef, dtype=np.float64)
    products: NDArray[np.float64] = standardised[np.newaxis, :, :] * coef[:, np.newaxis, :]
    return products


class ExplanationKey(msgspec.Struct, kw_only=True):
    """How to read each record's ``contributions``: one list per entry of ``decisions`` (the class that
    decision argues for), one value per entry of ``feature_names``. A decision's score is the sum of
    its contributions plus its ``intercept``."""

    feature_names: list[str]
    decisions: list[int]
    intercept: list[float]


def explanation_key(explainer: Explainer) -> ExplanationKey:
    return ExplanationKey(
        feature_names=explainer.feature_names,
        decisions=explainer.decisions,
        intercept=explainer.intercept,
    )


def per_record(explainer: Explainer, features: NDArray[np.float64]) -> list[list[list[float]]]:
    """``contributions`` regrouped by record: for each row, one list per decision."""
    values = contributions(explainer, features)
    regrouped: list[list[list[float]]] = values.transpose(1, 0, 2).tolist()
    return regrouped
