"""The data set a deployment serves: its spec, where the spec was read from, and what follows from it.

Loaded once per process from ``SVMFLOW_DATASET_SPEC``. Seeding, training, the hold-out, the ingest
API's width check, the model's feature names and classes, and which model versions may serve all come
from here, so a deployment that points at another spec serves another data set with no code change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from svmflow.datasets import spec as specs
from svmflow.datasets.seed_data import read_labelled_csv, read_seed_rows
from svmflow.datasets.spec import DatasetSpec
from svmflow.domain.training import LabelledRow


@dataclass(frozen=True)
class ServedDataset:
    spec: DatasetSpec
    path: Path  # the spec file; its seed data is relative to it
    model_digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "model_digest", specs.model_digest(self.spec))

    @classmethod
    def load(cls, path: Path) -> ServedDataset:
        """Raises ``SpecError`` naming the file and the field at fault."""
        return cls(specs.load(path), path.resolve())

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def feature_names(self) -> tuple[str, ...]:
        return tuple(self.spec.feature_names)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(self.spec.class_names)

    @property
    def seed_path(self) -> Path:
        return self.spec.seed_path(self.path)

    def seed_rows(self, csv_path: Path | None = None) -> list[LabelledRow]:
        """The spec's seed data, or another CSV with the same columns."""
        if csv_path is None:
            return read_seed_rows(self.spec, self.path)
        return read_labelled_csv(self.spec, csv_path)
