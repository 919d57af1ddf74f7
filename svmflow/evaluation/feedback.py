"""Who rates the predictions: 1 says a prediction was right, 0 that it was wrong."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from svmflow.evaluation.scenario import Scenario


class FeedbackPolicy:
    def __init__(self, scenario: Scenario, rng: np.random.Generator) -> None:
        self.kind = scenario.feedback
        self.noise_rate = scenario.noise_rate
        self.rng = rng

    def ratings(self, predicted: NDArray[np.int64], truth: NDArray[np.int64]) -> list[int]:
        honest = (predicted == truth).astype(np.int64)
        if self.kind == "adversarial":
            # Every rating is a lie: right answers are called wrong and wrong ones right, so every
            # corrected label the pipeline derives is the opposite of the truth.
            return (1 - honest).tolist()
        if self.kind == "noisy":
            flip = self.rng.random(len(honest)) < self.noise_rate
            return np.where(flip, 1 - honest, honest).tolist()
        return honest.tolist()
