"""How a training runs: the gate's policy, the fit's knobs and the job's patience."""

from __future__ import annotations

from dataclasses import dataclass

from svmflow.domain.fitting import ClassWeight
from svmflow.domain.gate import GatePolicy
from svmflow.domain.model_selection import DEFAULT_C_GRID


@dataclass(frozen=True)
class TrainingOptions:
    policy: GatePolicy
    feedback_weight: float = 1.0
    # Short, and renewed by a heartbeat while training runs: a crashed or frozen training frees its
    # claim within this time.
    lease_seconds: float = 30.0
    # How long a running job keeps retrying the database before giving its claim back (a restart).
    database_patience_seconds: float = 60.0
    metric: str = "auto"  # auto, accuracy, balanced_accuracy or macro_f1
    imbalance_share: float = 0.3  # auto: balanced accuracy when the smaller class is below this share
    class_weight: ClassWeight = "none"
    c_grid: tuple[float, ...] = DEFAULT_C_GRID
    cv_folds: int = 5
    outlier_iqr: float = 3.0  # quarantine feedback beyond the quartiles +/- this many IQRs
    retrain_min_labels: int = 20  # bounds of the derived number of new labels before the next training
    retrain_max_labels: int = 300
    # The served data set spec: the model's feature names, its class names (by label) and the digest a
    # version is bound to (None: a model of the banknote features, not bound to a spec).
    feature_names: tuple[str, ...] | None = None
    class_names: tuple[str, ...] | None = None
    model_digest: str | None = None
    # Above 0: a challenger that passes the gate first scores this many live records in shadow.
    shadow_records: int = 0
