"""A model's seed data, read as its spec says: columns by name, labels mapped to class indices."""

from __future__ import annotations

from pathlib import Path

from svmflow.datasets.csv_table import CsvError, read_table
from svmflow.datasets.spec import DatasetSpec
from svmflow.domain.training import SEED, LabelledRow


def read_seed_rows(spec: DatasetSpec, spec_path: Path) -> list[LabelledRow]:
    """Rows in the spec's feature order whatever the CSV's column order; the label is the index of
    the class in ``spec.classes``. Keys are ``row-N`` (N counting data rows from 1), as today."""
    return read_labelled_csv(spec, spec.seed_path(spec_path))


def read_labelled_csv(spec: DatasetSpec, csv_path: Path) -> list[LabelledRow]:
    """Any CSV with the spec's feature and label columns, read as the seed data is."""
    table = read_table(csv_path)
    columns = [table.numbers(name) for name in spec.feature_names]
    index_of = {c.data_value: i for i, c in enumerate(spec.classes)}
    labels = []
    for line, cell in enumerate(table.labels(spec.label), start=2):
        if cell not in index_of:
            raise CsvError(
                f"{table.path}: line {line}, column {spec.label!r}: {cell!r} is not a class of "
                f"the spec ({', '.join(index_of)})"
            )
        labels.append(index_of[cell])
    return [
        LabelledRow(SEED, f"row-{number}", features, label)
        for number, (features, label) in enumerate(
            zip(zip(*columns, strict=True), labels, strict=True), start=1
        )
    ]
