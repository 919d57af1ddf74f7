"""Who rates the predictions: 1 says a prediction was right, 0 that it was wrong."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from svmflow.contracts import Rating
from svmflow.evaluation.scenario import Scenario


class FeedbackPolicy:
    def __init__(self, scenario: Scenario, rng: np.random.Generator, variance_median: float) -> None:
        self.kind = scenario.feedback
        self.noise_rate = scenario.noise_rate
        self.rng = rng
        self.variance_median = variance_median

    def ratings(
        self, predicted: NDArray[np.int64], truth: NDArray[np.int64], features: NDArray[np.float64]
    ) -> list[Rating]:
        honest = (predicted == truth).astype(np.int64)
        # Each list holds 0s and 1s only; numpy types tolist() as Any.
        ratings: list[Rating]
        if self.kind == "adversarial":
            # Every rating is a lie: every corrected label the pipeline derives is the opposite of the truth.
            ratings = (1 - honest).tolist()
            return ratings
        if self.kind == "targeted":
            # A poisoner after one region: genuine notes with a high variance are rated so that they come
            # out forged (right answers called wrong, wrong ones right); every other rating is honest, so
            # the lies hide in otherwise good feedback.
            target = (truth == 0) & (features[:, 0] > self.variance_median)
            ratings = np.where(target, 1 - honest, honest).tolist()
            return ratings
        if self.kind == "noisy":
            flip = self.rng.random(len(honest)) < self.noise_rate
            ratings = np.where(flip, 1 - honest, honest).tolist()
            return ratings
        ratings = honest.tolist()
        return ratings
