"""Which feedback rows must not be trained on: non-finite values, or values far outside the robust range
of the data (beyond ``k`` interquartile ranges from the quartiles, per feature)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from svmflow.domain.training import FEATURE_NAMES

ACTIVE = "active"
QUARANTINED = "quarantined"
STATUSES = (ACTIVE, QUARANTINED)
BY_RULE = "rule"
BY_OPERATOR = "operator"


@dataclass(frozen=True)
class RobustRange:
    low: NDArray[np.float64]
    high: NDArray[np.float64]
    k: float
    feature_names: tuple[str, ...] | None = None  # how a reason names a feature (default: banknote's)

    @classmethod
    def of(
        cls, reference: NDArray[np.float64], k: float, feature_names: Sequence[str] | None = None
    ) -> RobustRange:
        """Quartiles of the finite reference rows; an outlier or two cannot move them."""
        finite = reference[np.all(np.isfinite(reference), axis=1)]
        if len(finite) == 0:
            raise ValueError("no finite reference rows to take a range from")
        q1, q3 = np.quantile(finite, [0.25, 0.75], axis=0)
        iqr = np.maximum(q3 - q1, 1e-9)
        names = None if feature_names is None else tuple(feature_names)
        return cls(q1 - k * iqr, q3 + k * iqr, k, names)

    def reason(self, features: Sequence[float]) -> str | None:
        """Why this row is quarantined, or None if it is fine."""
        row = np.asarray(features, dtype=np.float64)
        if row.shape != self.low.shape:
            return f"has {row.size} features, the model takes {self.low.size}"
        names = self.feature_names or FEATURE_NAMES
        if len(names) != row.size:
            names = [f"x{i}" for i in range(row.size)]
        for name, x, low, high in zip(names, row, self.low, self.high, strict=True):
            if not np.isfinite(x):
                return f"{name} is not finite ({x})"
            if x < low or x > high:
                return (
                    f"{name} = {x:.6g} is outside the robust range [{low:.4g}, {high:.4g}] "
                    f"(quartiles +/- {self.k:g} x IQR)"
                )
        return None
