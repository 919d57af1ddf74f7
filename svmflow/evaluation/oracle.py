"""The oracle line: a model retrained before every batch on the seed and every true label so far.

It uses the pipeline's own fitting (C by cross-validation over the same grid) but none of its gate,
feedback or quarantine: it sees the truth of every row that was sent, rated or not.
"""

from __future__ import annotations

import numpy as np

from svmflow.config import Settings
from svmflow.domain.fitting import ClassWeight
from svmflow.domain.linear_model import LinearModel
from svmflow.domain.model_selection import choose_c
from svmflow.domain.training import FEEDBACK, LabelledRow, fit, predict_rows, row_hash
from svmflow.evaluation.drift import Features, Labels


class Oracle:
    def __init__(self, seed: list[LabelledRow], settings: Settings) -> None:
        self.seed = seed
        self.settings = settings
        self.rows: dict[str, LabelledRow] = {}  # one label per vector, the latest truth
        self.model: LinearModel | None = None

    def learn(self, features: Features, truth: Labels) -> None:
        for x, y in zip(features.tolist(), truth.tolist(), strict=True):
            key = row_hash(x)
            self.rows[key] = LabelledRow(FEEDBACK, key, tuple(x), int(y), "sample")
        train = self.seed + list(self.rows.values())
        s = self.settings
        weight: ClassWeight = "balanced" if s.class_weight == "balanced" else "none"
        cv = choose_c(train, grid=s.c_values, metric="accuracy", folds=s.cv_folds, class_weight=weight)
        self.model = fit(train, s.feedback_weight, cv.c, weight)

    def accuracy(self, features: Features, truth: Labels) -> float:
        """Before the first batch the oracle knows only the seed: it is the first model then."""
        if self.model is None:
            self.model = fit(self.seed, self.settings.feedback_weight, 1.0)
        rows = [LabelledRow(FEEDBACK, "", tuple(x), 0) for x in features.tolist()]
        return float(np.mean(predict_rows(self.model, rows) == truth))
