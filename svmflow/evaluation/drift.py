"""How the world changes at the drift: the features the pipeline sees, or the labels that are true."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from svmflow.evaluation.scenario import Scenario

Features = NDArray[np.float64]
Labels = NDArray[np.int64]

FORGED = 1


class Drift:
    """Applies a scenario's drift to rows; ``reference`` fixes the relabelled region's threshold, so
    it is the same for every batch (a quantile of the whole data set, not of each batch)."""

    def __init__(self, scenario: Scenario, reference: Features) -> None:
        self.scenario = scenario
        self.kind = scenario.drift
        self.offset = np.asarray(scenario.shift, dtype=np.float64)
        if self.kind in ("shift", "gradual") and self.offset.shape != (reference.shape[1],):
            raise ValueError(f"shift needs {reference.shape[1]} offsets, got {len(scenario.shift)}")
        self.threshold = float(np.quantile(reference[:, 0], scenario.relabel_quantile))

    def apply(self, features: Features, labels: Labels, batch: int) -> tuple[Features, Labels]:
        """The rows as they look at ``batch``, and their true labels then."""
        fraction = self.scenario.drift_fraction(batch)
        if fraction == 0.0:
            return features, labels
        if self.kind in ("shift", "gradual"):
            return features + fraction * self.offset, labels
        if self.kind == "relabel":
            return features, np.where(features[:, 0] < self.threshold, FORGED, labels)
        return features, labels

    def describe(self) -> str:
        s = self.scenario
        if self.kind == "shift":
            return f"features shifted by {self.offset.tolist()} from batch {s.drift_at}"
        if self.kind == "gradual":
            return (
                f"features shifted towards {self.offset.tolist()} from batch {s.drift_at}, "
                f"fully by batch {s.drift_at + s.ramp - 1}"
            )
        if self.kind == "relabel":
            return f"rows with variance < {self.threshold:.3f} relabelled forged from batch {s.drift_at}"
        return "no drift"
