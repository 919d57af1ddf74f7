"""Splitting rows into batches the ingest API accepts: at most 10,000 rows and 5 MiB of JSON each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import msgspec

from svmflow.contracts import MAX_ROWS

# The ingest API's body limit (api/README.md, Limits), less room for the JSON around the two lists.
MAX_BODY_BYTES = 5 * 1024 * 1024
_ENVELOPE_BYTES = 64

_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class Batch:
    subjects: list[str]
    features: list[list[float]]

    def body(self) -> bytes:
        return _encoder.encode({"subjects": self.subjects, "features": self.features})


def batches(
    rows: Iterable[Sequence[float]],
    subjects: Iterable[str] | None = None,
    *,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BODY_BYTES,
    first_subject: int = 0,
) -> Iterator[Batch]:
    """Lazily: rows are read as batches fill, so an input larger than memory can stream through.

    Without subjects, each row is named by its position in the input (``"0"``, ``"1"``, ...)."""
    if not 1 <= max_rows <= MAX_ROWS:
        raise ValueError(f"max_rows must be between 1 and {MAX_ROWS}")
    names: Iterator[str] = iter(subjects) if subjects is not None else _positions(first_subject)
    batch_subjects: list[str] = []
    batch_features: list[list[float]] = []
    size = _ENVELOPE_BYTES
    for row in rows:
        try:
            subject = next(names)
        except StopIteration:
            raise ValueError("there are more rows than subjects") from None
        features = [float(x) for x in row]
        # Each element's encoded size plus its comma: exact, so no batch can pass the limit.
        cost = len(_encoder.encode(subject)) + len(_encoder.encode(features)) + 2
        if cost + _ENVELOPE_BYTES > max_bytes:
            raise ValueError(f"row {subject!r} alone is larger than the API's body limit")
        if batch_subjects and (len(batch_subjects) >= max_rows or size + cost > max_bytes):
            yield Batch(batch_subjects, batch_features)
            batch_subjects, batch_features, size = [], [], _ENVELOPE_BYTES
        batch_subjects.append(subject)
        batch_features.append(features)
        size += cost
    if subjects is not None and next(names, None) is not None:
        raise ValueError("there are more subjects than rows")
    if batch_subjects:
        yield Batch(batch_subjects, batch_features)


def _positions(start: int) -> Iterator[str]:
    index = start
    while True:
        yield str(index)
        index += 1
