"""Bulk input files: where they live in the bucket, their two formats, and their rows.

CSV: a header, then one row per line. A column named ``subject`` (or ``id``) names the row; every other
column is a feature, as many as the model expects. JSON lines: one ``{"features": [...], "subject": ...}``
object (``subject`` optional) or one bare array of features per line. Blank lines are skipped. Line
numbers count from 1, the header included, as an editor shows them.
"""

from __future__ import annotations

import csv
import math
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import msgspec

from svmflow.contracts import MAX_FEATURES, MAX_SUBJECT_LENGTH
from svmflow.domain.batch_rules import MAX_FEATURE_MAGNITUDE

Format = Literal["csv", "jsonl"]
PREFIX = "bulk/"  # bulk files live here, so results never land beside the models
SUBJECT_COLUMNS = ("subject", "id")
_EXTENSIONS: dict[str, Format] = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class BulkFileError(ValueError):
    """The file (or its name) cannot be a bulk input; the message says why."""


@dataclass(frozen=True)
class Location:
    path: str  # the object's name in the bucket
    format: Format


def locate(uri: str, bucket_name: str, bucket_dir: Path | None = None) -> Location:
    """``gs://<bucket>/bulk/x.csv``, ``bulk/x.csv``, or (embedded) a file path under the bucket folder."""
    uri = uri.strip()
    if uri.startswith("gs://"):
        bucket, _, path = uri[len("gs://") :].partition("/")
        if bucket != bucket_name:
            raise BulkFileError(f"bulk files are read from gs://{bucket_name}/{PREFIX}, not gs://{bucket}/")
    elif uri.startswith(("/", "file://")) and bucket_dir is not None:
        local = Path(uri.removeprefix("file://")).resolve()
        root = bucket_dir.resolve()
        if root not in local.parents:
            raise BulkFileError(f"a local bulk file must be under the bucket folder {root}/{PREFIX}")
        path = local.relative_to(root).as_posix()
    elif "://" in uri or uri.startswith("/"):
        raise BulkFileError(f"name a file as gs://{bucket_name}/{PREFIX}<name> or {PREFIX}<name>")
    else:
        path = uri
    normal = posixpath.normpath(path) if path else ""
    if normal != path or not path.startswith(PREFIX) or path.endswith("/") or len(path) > 1024:
        raise BulkFileError(f"bulk files must be objects under {PREFIX} in the bucket (got {path!r})")
    extension = posixpath.splitext(path)[1].lower()
    if extension not in _EXTENSIONS:
        raise BulkFileError(f"a bulk file must end in .csv, .jsonl or .ndjson (got {extension or 'none'})")
    return Location(path, _EXTENSIONS[extension])


def output_prefix(path: str, job_id: str) -> str:
    """Results go next to the input, in a folder per job, so two runs over one file do not mix."""
    return f"{path}.out/{job_id}/"


@dataclass(frozen=True)
class Row:
    line: int
    subject: str | None
    features: list[float]


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass(frozen=True)
class Header:
    subject_column: int | None
    width: int  # features per row


def parse_header(line: str, n_features: int) -> Header:
    columns = [c.strip().lower() for c in next(csv.reader([line]))]
    subject = next((i for i, c in enumerate(columns) if c in SUBJECT_COLUMNS), None)
    width = len(columns) - (subject is not None)
    if width != n_features:
        raise BulkFileError(
            f"the CSV header has {width} feature columns but the model expects {n_features} "
            f"(columns: {', '.join(columns)[:200]})"
        )
    return Header(subject, width)


def _features(values: Iterable[str | float], width: int) -> list[float]:
    features = [float(v) for v in values]
    if len(features) != width:
        raise ValueError(f"has {len(features)} features, the model expects {width}")
    for index, value in enumerate(features):
        if not math.isfinite(value) or abs(value) > MAX_FEATURE_MAGNITUDE:
            raise ValueError(f"feature {index + 1} is {value!r}: features must be finite and within ±1e100")
    return features


def _subject(value: object) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_SUBJECT_LENGTH:
        raise ValueError(f"subject must be a string of 1 to {MAX_SUBJECT_LENGTH} characters")
    return value


def _csv_row(text: str, header: Header) -> tuple[str | None, list[float]]:
    # Numbers need no quoting: the plain split is the common case and several times faster.
    fields = next(csv.reader([text])) if '"' in text else text.split(",")
    if len(fields) != header.width + (header.subject_column is not None):
        raise ValueError(
            f"has {len(fields)} columns, the header has {header.width + (header.subject_column is not None)}"
        )
    subject = None
    if header.subject_column is not None:
        subject = _subject(fields.pop(header.subject_column).strip())
    return subject, _features(fields, header.width)


class _JsonRow(msgspec.Struct, forbid_unknown_fields=True):
    features: list[float]
    subject: str | None = None


_json_row = msgspec.json.Decoder(_JsonRow | list[float])


def _jsonl_row(text: str, width: int) -> tuple[str | None, list[float]]:
    try:
        value = _json_row.decode(text)
    except msgspec.ValidationError as exc:
        raise ValueError(
            f'expected {{"features": [...], "subject": ...}} or an array of numbers: {exc}'
        ) from exc
    except msgspec.DecodeError as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    if isinstance(value, list):
        return None, _features(value, width)
    return (None if value.subject is None else _subject(value.subject)), _features(value.features, width)


def read_rows(lines: Iterable[bytes], fmt: Format, n_features: int) -> Iterator[Row | BadRow]:
    """Every non-blank line as a ``Row`` or, when it cannot be one, a ``BadRow`` saying why.

    A bad CSV header is the one fault that stops the file (``BulkFileError``): no row can be read
    without it."""
    if n_features > MAX_FEATURES:
        raise BulkFileError(f"the model expects {n_features} features, more than {MAX_FEATURES}")
    header: Header | None = None
    for number, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            if header is None and fmt == "csv":
                raise BulkFileError("line 1 (the CSV header) is not UTF-8 text") from None
            yield BadRow(number, "not UTF-8 text")
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")  # a byte order mark some spreadsheets write
        if not text.strip():
            continue
        if fmt == "csv" and header is None:
            header = parse_header(text, n_features)
            continue
        try:
            subject, features = _csv_row(text, header) if header is not None else _jsonl_row(text, n_features)
        except (ValueError, csv.Error) as exc:
            yield BadRow(number, str(exc)[:300])
            continue
        yield Row(number, subject, features)
    if fmt == "csv" and header is None:
        raise BulkFileError("the CSV file is empty: it needs a header line")


def check_head(head: bytes, fmt: Format, n_features: int, complete: bool) -> None:
    """What the ingest API checks before accepting a file: readable text, a header (CSV) or a first
    line (JSON lines) this system can read. ``head`` is the file's first bytes; ``complete`` when it
    is the whole file."""
    lines = head.split(b"\n")
    if not complete:
        lines = lines[:-1]  # the last one may be cut mid-line
    if not lines or not any(line.strip() for line in lines):
        if complete:
            raise BulkFileError("the file is empty")
        raise BulkFileError("the file's first line is longer than this system reads in one go (64 KiB)")
    for row in read_rows(lines[:2] if fmt == "csv" else lines[:1], fmt, n_features):
        if isinstance(row, BadRow):
            raise BulkFileError(
                f"line {row.line} is not a {fmt.upper()} row this system can read: {row.reason}"
            )
