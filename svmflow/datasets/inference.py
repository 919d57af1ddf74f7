"""``svmflow init``: a spec inferred from a CSV, with a preview of what the model would learn from."""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from svmflow.datasets import spec as specs
from svmflow.datasets.csv_table import CsvError, Table, read_table
from svmflow.datasets.spec import ClassSpec, DatasetSpec, FeatureSpec


@dataclass(frozen=True)
class FeatureRange:
    name: str
    min: float
    max: float


@dataclass(frozen=True)
class Inferred:
    spec: DatasetSpec
    rows: int
    class_counts: list[tuple[str, int]]  # in the order of spec.classes
    ranges: list[FeatureRange]

    def preview(self) -> str:
        spec = self.spec
        lines = [
            f"{self.rows:,} rows, {len(spec.features)} features, label {spec.label!r} "
            f"with {len(spec.classes)} classes",
            "",
        ]
        width = max(len("class"), *(len(name) for name, _ in self.class_counts))
        lines.append(f"  {'class':<{width}}  {'rows':>8}  share")
        for name, count in self.class_counts:
            lines.append(f"  {name:<{width}}  {count:>8,}  {count / self.rows:6.1%}")
        lines.append("")
        width = max(len("feature"), *(len(r.name) for r in self.ranges))
        lines.append(f"  {'feature':<{width}}  {'min':>12}  {'max':>12}")
        for r in self.ranges:
            lines.append(f"  {r.name:<{width}}  {r.min:>12.6g}  {r.max:>12.6g}")
        return "\n".join(lines)

    def to_toml(self) -> str:
        notes = {r.name: f"observed {r.min:.6g} .. {r.max:.6g}" for r in self.ranges}
        return specs.to_toml(self.spec, notes)


def model_name_from(path: Path) -> str:
    """A valid model name from a file name: ``Wine Quality.csv`` gives ``wine-quality``."""
    slug = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")
    if not slug or not slug[0].isalpha():
        slug = f"model-{slug}".rstrip("-")
    return slug[:63].rstrip("-")


def infer(csv_path: Path, label: str, spec_path: Path, name: str | None = None) -> Inferred:
    """Every column but the label is a numeric feature, in the CSV's order; the classes are the label's
    distinct values, numerically ordered when they are all integers (so 0/1 stay 0, 1)."""
    table = read_table(csv_path)
    table.column(label)  # a missing label column is named before any cell is read
    features = [c for c in table.columns if c != label]
    if not features:
        raise CsvError(f"{csv_path}: only the label column {label!r}; a model needs feature columns")
    ranges = [_range(table, column) for column in features]
    counts = Counter(table.labels(label))
    if len(counts) < 2:
        only = next(iter(counts))
        raise CsvError(
            f"{csv_path}: column {label!r} has one class only ({only!r}); a model needs two or more"
        )
    if len(counts) > specs.MAX_CLASSES:
        raise CsvError(
            f"{csv_path}: column {label!r} has {len(counts):,} distinct values, more than "
            f"{specs.MAX_CLASSES} classes; is it a number to predict rather than a class?"
        )
    classes = _ordered(list(counts))
    seed_data = Path(os.path.relpath(csv_path.resolve(), spec_path.resolve().parent)).as_posix()
    spec = DatasetSpec(
        name=name or model_name_from(csv_path),
        label=label,
        features=[FeatureSpec(name=column) for column in features],
        classes=[ClassSpec(name=value) for value in classes],
        seed_data=seed_data,
    )
    # The structs check their types and rules only when decoded: decode the text to be written, so an
    # invalid name (say, a header with a newline) is refused here and nothing is written.
    inferred = Inferred(spec, len(table.rows), [(c, counts[c]) for c in classes], ranges)
    specs.decode(inferred.to_toml(), f"spec inferred from {csv_path}")
    return inferred


def _range(table: Table, column: str) -> FeatureRange:
    values = table.numbers(column)
    return FeatureRange(column, min(values), max(values))


def _ordered(values: list[str]) -> list[str]:
    try:
        return sorted(values, key=int)
    except ValueError:
        return sorted(values)
