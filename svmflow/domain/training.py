"""Training data, the deterministic hold-out split, fitting and evaluation."""

from __future__ import annotations

import csv
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from svmflow.domain.fitting import ClassWeight, TrainingDataError, fit_linear_svm
from svmflow.domain.linear_model import LinearModel

FEATURE_NAMES = ["variance", "skewness", "curtosis", "entropy"]
SEED = "seed"
FEEDBACK = "feedback"


SAMPLE = "sample"  # feedback on rows chosen without regard to whether the model was right: evidence
CORRECTIONS = "corrections"  # feedback that only says where the model was wrong: training data only
FEEDBACK_KINDS = (SAMPLE, CORRECTIONS)


@dataclass(frozen=True)
class LabelledRow:
    source: str  # SEED or FEEDBACK
    key: str  # unique within its source (a feedback row's key is the digest of its features)
    features: tuple[float, ...]
    label: int
    kind: str = SEED  # SEED, SAMPLE or CORRECTIONS: how the label was given


def row_hash(features: Sequence[float]) -> str:
    """A digest of the feature values alone, so exact duplicates (and relabelled copies) collide."""
    packed = struct.pack(f"<{len(features)}d", *(float(x) for x in features))
    return hashlib.sha256(packed).hexdigest()


def is_holdout(digest: str, holdout_percent: int) -> bool:
    """Deterministic split: the same row always lands on the same side, on every run."""
    return int(digest[:8], 16) % 100 < holdout_percent


def read_seed_csv(path: Path) -> list[LabelledRow]:
    with path.open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        if header[: len(FEATURE_NAMES)] != FEATURE_NAMES:
            raise TrainingDataError(f"{path}: expected columns {FEATURE_NAMES} + class, got {header}")
        return [
            LabelledRow(SEED, f"row-{index}", tuple(float(x) for x in row[:-1]), int(row[-1]))
            for index, row in enumerate(reader, start=1)
        ]


def data_fingerprint(rows: Iterable[LabelledRow]) -> str:
    """Order-independent digest of the data a model was trained on."""
    digests = sorted(f"{row_hash(r.features)}:{r.label}:{r.source}" for r in rows)
    return hashlib.sha256("\n".join(digests).encode()).hexdigest()


def to_arrays(rows: Sequence[LabelledRow]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    if not rows:
        return np.empty((0, len(FEATURE_NAMES))), np.empty(0, dtype=np.int64)
    return (
        np.asarray([r.features for r in rows], dtype=np.float64),
        np.asarray([r.label for r in rows], dtype=np.int64),
    )


def fit(
    rows: Sequence[LabelledRow],
    feedback_weight: float = 1.0,
    c: float = 1.0,
    class_weight: ClassWeight = "none",
    feature_names: Sequence[str] | None = None,
) -> LinearModel:
    """Standardise, then fit a linear SVM (one-vs-rest for three classes or more); feedback rows may
    weigh more than seed rows, and ``class_weight="balanced"`` weighs each class inversely to its
    frequency. ``feature_names`` default to the banknote data set's when the rows have four features
    (fits made only to be scored, as in cross-validation, need no names)."""
    if not rows:
        raise TrainingDataError("no training rows")
    x, y = to_arrays(rows)
    if len(np.unique(y)) < 2:
        raise TrainingDataError(f"training needs two classes or more, got {sorted(set(y.tolist()))}")
    weights = np.asarray([feedback_weight if r.source == FEEDBACK else 1.0 for r in rows])
    if feature_names is None:
        width = x.shape[1]
        feature_names = FEATURE_NAMES if width == len(FEATURE_NAMES) else [f"x{i}" for i in range(width)]
    return fit_linear_svm(x, y, feature_names, sample_weight=weights, c=c, class_weight=class_weight)


def accuracy(model: LinearModel, rows: Sequence[LabelledRow]) -> float | None:
    if not rows:
        return None
    x, y = to_arrays(rows)
    labels, _ = model.predict(x)
    return float(np.mean(labels == y))


def fold_of(row: LabelledRow, folds: int) -> int:
    """Deterministic fold by a hash of the features (other bits than the hold-out split's)."""
    return int(row_hash(row.features)[16:24], 16) % folds


def predict_rows(model: LinearModel, rows: Sequence[LabelledRow]) -> NDArray[np.int64]:
    if not rows:
        return np.empty(0, dtype=np.int64)
    x, _ = to_arrays(rows)
    labels, _ = model.predict(x)
    return labels.astype(np.int64)
