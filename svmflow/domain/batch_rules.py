"""The rules of a batch, owned here and applied wherever a batch is checked: the message contracts, the
ingest API and the feedback route.

A batch is a list of subjects with columns that line up with it (feature rows, labels, ratings...).
Subjects are non-empty, unique within the batch and at most ``MAX_SUBJECT_LENGTH`` characters; a batch
has at most ``MAX_ROWS`` rows of 1 to ``MAX_FEATURES`` features, all of one width, each a finite number
no larger than ``MAX_FEATURE_MAGNITUDE``.

``first_breach`` returns the first rule a batch breaks as a value rather than raising: each caller words
it for its own readers (a message consumer's log, an HTTP client's problem document).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass

import numpy as np

MAX_SUBJECT_LENGTH = 128
MAX_FEATURES = 64
MAX_ROWS = 10_000
# Far beyond any real measurement, and beyond it the model's arithmetic can overflow.
MAX_FEATURE_MAGNITUDE = 1e100


@dataclass(frozen=True)
class NoSubjects:
    pass


@dataclass(frozen=True)
class MisalignedColumn:
    name: str
    entries: int
    subjects: int


@dataclass(frozen=True)
class RepeatedSubject:
    subject: str
    index: int
    first: int  # where it appeared first


@dataclass(frozen=True)
class RaggedRow:
    index: int
    width: int
    expected: int


@dataclass(frozen=True)
class BadNumber:
    row: int
    column: int
    finite: bool  # False: NaN or infinite; True: finite but beyond MAX_FEATURE_MAGNITUDE


Breach = NoSubjects | MisalignedColumn | RepeatedSubject | RaggedRow | BadNumber


def repeated_subject(subjects: Sequence[str]) -> RepeatedSubject | None:
    if len(set(subjects)) == len(subjects):  # the common case, without a Python loop
        return None
    first_seen: dict[str, int] = {}
    for index, subject in enumerate(subjects):
        first = first_seen.setdefault(subject, index)
        if first != index:
            return RepeatedSubject(subject=subject, index=index, first=first)
    return None  # unreachable: the set was smaller than the list


def ragged_row(rows: Sequence[Sized], width: int | None = None) -> RaggedRow | None:
    """The first row whose width is not ``width`` (default: the first row's)."""
    if not rows:
        return None
    expected = width if width is not None else len(rows[0])
    for index, row in enumerate(rows):
        if len(row) != expected:
            return RaggedRow(index=index, width=len(row), expected=expected)
    return None


def bad_number(rows: Sequence[Sequence[float]]) -> BadNumber | None:
    """The first feature that is not finite, else the first beyond ``MAX_FEATURE_MAGNITUDE``."""
    values = np.asarray(rows, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.all():
        row, column = (int(i) for i in np.argwhere(~finite)[0])
        return BadNumber(row=row, column=column, finite=False)
    too_large = np.abs(values) > MAX_FEATURE_MAGNITUDE
    if too_large.any():
        row, column = (int(i) for i in np.argwhere(too_large)[0])
        return BadNumber(row=row, column=column, finite=True)
    return None


def first_breach(
    subjects: Sequence[str],
    columns: Mapping[str, Sized],
    *,
    features: Sequence[Sequence[float]] | None = None,
    width: int | None = None,
    check_numbers: bool = False,
) -> Breach | None:
    """The first rule the batch breaks, in this order: no subjects, a column that does not line up with
    the subjects, a repeated subject, a feature row of another width (``width``, or the first row's),
    and with ``check_numbers`` a feature that is not finite or too large."""
    if not subjects:
        return NoSubjects()
    for name, column in columns.items():
        if len(column) != len(subjects):
            return MisalignedColumn(name=name, entries=len(column), subjects=len(subjects))
    if (repeated := repeated_subject(subjects)) is not None:
        return repeated
    if features is None:
        return None
    if (ragged := ragged_row(features, width)) is not None:
        return ragged
    return bad_number(features) if check_numbers else None
