"""Splits the data set so the stream and the truth the replay measures on were never seed data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from svmflow.domain.training import FEATURE_NAMES, LabelledRow, row_hash, to_arrays
from svmflow.evaluation.drift import Features, Labels


@dataclass(frozen=True)
class Split:
    seed: list[LabelledRow]  # what the pipeline is seeded with (and its trusted hold-out)
    stream_x: Features  # batches are drawn from these
    stream_y: Labels
    truth_x: Features  # never sent to the pipeline: the accuracy of each model is measured here
    truth_y: Labels


def split(rows: list[LabelledRow]) -> Split:
    """Half seed, a quarter stream, a quarter truth, by a hash of the features.

    The hash bits differ from those of the training hold-out split, so the two splits are independent,
    and exact duplicates land in the same part (a stream row never repeats a seed row).
    """
    seed: list[LabelledRow] = []
    stream: list[LabelledRow] = []
    truth: list[LabelledRow] = []
    for row in rows:
        quarter = int(row_hash(row.features)[8:16], 16) % 4
        (seed if quarter < 2 else stream if quarter == 2 else truth).append(row)
    stream_x, stream_y = to_arrays(stream)
    truth_x, truth_y = to_arrays(truth)
    return Split(seed, stream_x, stream_y, truth_x, truth_y)


def write_csv(rows: list[LabelledRow], path: Path) -> Path:
    """The seed part as a CSV ``svmflow seed`` reads."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*FEATURE_NAMES, "class"])
        for row in rows:
            writer.writerow([*(repr(x) for x in row.features), row.label])
    return path


def all_features(data: Split) -> Features:
    seed_x, _ = to_arrays(data.seed)
    return np.vstack([seed_x, data.stream_x, data.truth_x])
