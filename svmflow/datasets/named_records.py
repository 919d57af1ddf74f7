"""Records given as objects keyed by feature name, turned into rows in the spec's feature order.

A batch may send ``{"variance": 3.6, "skewness": 8.7, ...}`` instead of ``[3.6, 8.7, ...]``; the model
needs the positional row. A missing, extra or misspelt name is refused with the record's index and the
name, and for a name that is not a feature the closest one that is (``difflib``), since a typo is the
usual cause.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from typing import TypeGuard

from svmflow.datasets.spec import DatasetSpec


class RecordError(ValueError):
    """A record does not match the spec; ``index`` is its position in the batch, ``field`` the name.

    ``misnamed``: a name is missing, extra or misspelt (the record's shape is wrong), rather than a
    value being out of place (not a number, out of bounds)."""

    def __init__(self, index: int, field: str | None, problem: str, *, misnamed: bool = False) -> None:
        super().__init__(f"record {index}: {problem}")
        self.problem = problem
        self.index = index
        self.field = field
        self.misnamed = misnamed


def rows_from_named(records: Sequence[Mapping[str, object]], spec: DatasetSpec) -> list[list[float]]:
    names = spec.feature_names
    width = len(names)
    rows: list[list[float]] = []
    for index, record in enumerate(records):
        # The common case costs one lookup per feature; only a record that fails is looked at closely.
        try:
            row = [record[name] for name in names]
        except KeyError:
            row = None
        if row is None or len(record) != width:
            raise _mismatch(index, record, names)
        if not _all_numbers(row):
            raise _not_a_number(index, names, row)
        rows.append(row)
    check_bounds(rows, spec)  # also refuses NaN and infinity
    return rows


def _all_numbers(row: list[object]) -> TypeGuard[list[float]]:
    # type(), not isinstance: a bool is not a number here.
    return all(type(value) in (int, float) for value in row)


def _not_a_number(index: int, names: Sequence[str], row: list[object]) -> RecordError:
    name, value = next((n, v) for n, v in zip(names, row, strict=True) if type(v) not in (int, float))
    return RecordError(index, name, f"feature {name!r} must be a number, got {_shown(value)}")


def check_bounds(rows: Sequence[Sequence[float]], spec: DatasetSpec) -> None:
    """Every value finite and within its feature's bounds; applies to positional records too."""
    for index, row in enumerate(rows):
        for feature, value in zip(spec.features, row, strict=True):
            if not math.isfinite(value):
                raise RecordError(
                    index, feature.name, f"feature {feature.name!r} must be finite, got {value}"
                )
            if feature.min is not None and value < feature.min:
                raise RecordError(
                    index,
                    feature.name,
                    f"feature {feature.name!r} is {value}, below its minimum {feature.min}",
                )
            if feature.max is not None and value > feature.max:
                raise RecordError(
                    index,
                    feature.name,
                    f"feature {feature.name!r} is {value}, above its maximum {feature.max}",
                )


def _mismatch(index: int, record: Mapping[str, object], names: list[str]) -> RecordError:
    expected = set(names)
    missing = [name for name in names if name not in record]
    extra = [str(key) for key in record if key not in expected]
    if extra:
        name = extra[0]
        # Prefer a close name that is missing from this record: that is the one the typo replaced.
        close = difflib.get_close_matches(name, missing, n=1) or difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; the features are {', '.join(names)}"
        return RecordError(index, name, f"{name!r} is not a feature{hint}", misnamed=True)
    return RecordError(index, missing[0], f"feature {missing[0]!r} is missing", misnamed=True)


def _shown(value: object) -> str:
    if isinstance(value, bool) or value is None:
        return "true" if value is True else "false" if value is False else "null"
    return f"{type(value).__name__} {value!r}"
