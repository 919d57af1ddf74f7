"""What a training decided and every number it used: typed, so readers do not guess at dict keys."""

from __future__ import annotations

from typing import Literal

import msgspec

from svmflow.domain.metrics import MetricName, Score

Verdict = Literal["promoted", "rejected"]


class Reference(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A model's accuracy when it was trained, on rows it had not seen (cross-fitted recent feedback, or
    cross-validation on its training data when there was none): what drift is measured against."""

    accuracy: float
    errors: int
    rows: int
    source: Literal["recent_feedback", "cross_validation"]


class TrainingSummary(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """How the challenger was fitted."""

    c: float
    c_grid: list[float]
    cv_scores: list[float]  # mean cross-validated metric per C, in grid order
    class_weight: Literal["none", "balanced"]
    metric: MetricName
    train_rows: int
    seed_rows: int
    feedback_rows: int
    quarantined_rows: int


class QuarantinedRow(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    id: int
    source: str
    batch_id: str | None
    subject: str | None
    features: list[float]
    label: int
    by: str | None  # rule or operator
    reason: str | None


class RowCounts(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The training table when a model was trained: rows by source and status, and the quarantined
    ones (the newest ``QUARANTINE_LISTED``) with their reasons."""

    seed: int
    feedback: int
    sample: int  # feedback rows whose label came from an unbiased rating
    quarantined: int
    quarantined_rows: list[QuarantinedRow] = []


QUARANTINE_LISTED = 200


class DecisionRecord(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The gate's decision. Window scores are on the latest unbiased feedback (the challenger's are
    cross-fitted: each row scored by a fit that did not see it); seed scores are on the trusted seed
    hold-out."""

    verdict: Verdict
    sentence: str
    metric: MetricName
    window_rows: int
    challenger_window: Score | None = None
    champion_window: Score | None = None
    challenger_only: int = 0  # window rows only the challenger got right
    champion_only: int = 0
    difference: float | None = None  # challenger minus champion on the window, in the metric
    p_value: float | None = None  # one-sided exact paired test
    look: int = 0  # tests run against this champion, this one included
    alpha: float | None = None  # what this look may spend
    drift_p_value: float | None = None  # champion worse on the window than at its training
    champion_reference: Reference | None = None
    challenger_seed: Score
    champion_seed: Score | None = None
    seed_delta: float | None = None  # challenger minus champion on the seed hold-out
    tested: bool = False  # whether a paired test ran (it counts as a look)
