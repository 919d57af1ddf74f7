"""A CSV file of one header row and numeric feature columns, read strictly.

Each problem is one sentence naming where it is (line and column, as a spreadsheet shows them), so a
user can fix the file without reading a stack trace.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


class CsvError(ValueError):
    """The CSV cannot be used as a data set; the message is one line and names the problem."""


@dataclass(frozen=True)
class Table:
    path: Path
    columns: list[str]
    rows: list[list[str]]  # cells as read, one list per data row; the header is line 1

    def column(self, name: str) -> int:
        if name not in self.columns:
            raise CsvError(f"{self.path}: no column {name!r}; the columns are {', '.join(self.columns)}")
        return self.columns.index(name)

    def numbers(self, name: str) -> list[float]:
        """The column as finite numbers, or an error naming the first cell that is not one."""
        index = self.column(name)
        values = []
        for line, row in enumerate(self.rows, start=2):
            values.append(_number(self.path, line, name, row[index]))
        return values

    def labels(self, name: str) -> list[str]:
        index = self.column(name)
        labels = []
        for line, row in enumerate(self.rows, start=2):
            cell = row[index].strip()
            if not cell:
                raise CsvError(f"{self.path}: line {line}, column {name!r}: the label is empty")
            labels.append(cell)
        return labels


def _number(path: Path, line: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        shown = "an empty cell" if not cell.strip() else repr(cell)
        raise CsvError(f"{path}: line {line}, column {column!r}: {shown} is not a number") from None
    if not math.isfinite(value):
        raise CsvError(f"{path}: line {line}, column {column!r}: {cell!r} is not a finite number")
    return value


def read_table(path: Path) -> Table:
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:  # -sig: spreadsheets add a BOM
            lines = list(csv.reader(handle))
    except FileNotFoundError:
        raise CsvError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CsvError(f"{path}: cannot read it as UTF-8 CSV ({exc})") from None
    lines = [row for row in lines if row]  # blank lines, e.g. a trailing one, carry nothing
    if not lines:
        raise CsvError(f"{path}: the file is empty; expected a header row and data rows")
    header = [name.strip() for name in lines[0]]
    _check_header(path, header)
    rows = lines[1:]
    if not rows:
        raise CsvError(f"{path}: the file has a header row but no data rows")
    for line, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise CsvError(f"{path}: line {line} has {len(row)} cells, the header has {len(header)}")
    return Table(path, header, rows)


def _check_header(path: Path, header: Sequence[str]) -> None:
    seen: set[str] = set()
    for position, name in enumerate(header, start=1):
        if not name:
            raise CsvError(f"{path}: column {position} of the header row has no name")
        if name in seen:
            raise CsvError(f"{path}: column name {name!r} appears twice in the header row")
        seen.add(name)
