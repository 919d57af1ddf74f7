"""The data set spec: one small TOML file per model that says what its records and labels are.

TOML because people write and review these files by hand: it has comments, no brace or comma noise,
and Python reads it with the standard library (``tomllib``, through ``msgspec.toml``). msgspec decodes
it straight into the structs below, so a wrong type, an unknown key or a rule broken in
``__post_init__`` is refused with the path of the field (``... - at `$.features[2].name```).

Two digests, both sha256 of a canonical encoding (the decoded spec as JSON with sorted keys and every
default spelled out, so comments, key order and formatting never change them):

* ``digest``: the whole spec.
* ``model_digest``: only what a trained model depends on (feature names and order, label column,
  classes). A model version is bound to it, so changing a gate threshold or a unit keeps the versions
  servable, while reordering features or renaming a class does not.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

SPEC_VERSION: Final = 1  # Final: its type is Literal[1], the field's
DATA_DIR = Path(__file__).resolve().parent.parent.parent / "data"
DEFAULT_SPEC_PATH = DATA_DIR / "banknote.toml"
MAX_FEATURES = 1_000
MAX_CLASSES = 100

# A model name goes into URLs (/v1/models/{name}/...) and resource names, so it stays plain.
ModelName = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
# Feature and class names are JSON keys and CSV headers: anything printable without edge spaces.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^\S(.*\S)?$")]
Share = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
GateMetric = Literal["auto", "accuracy", "balanced_accuracy", "macro_f1"]


class SpecError(ValueError):
    """A spec file cannot be read or breaks a rule; the message names the file and the field."""


class FeatureSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    # Inclusive bounds a record's value must lie within (None: unbounded); documentation for clients
    # and a check on input, not a transformation.
    min: float | None = None
    max: float | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        for bound in (self.min, self.max):
            if bound is not None and not math.isfinite(bound):
                raise ValueError(f"feature {self.name!r}: bounds must be finite numbers")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"feature {self.name!r}: min {self.min} is above max {self.max}")


class ClassSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name  # what clients see: poll answers, feedback ``labels``
    value: str | None = None  # the label cell in the seed data, when it is not the name itself

    @property
    def data_value(self) -> str:
        return self.name if self.value is None else self.value


class GateSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Per-model overrides of the promotion gate; unset means the deployment's setting (SVMFLOW_GATE_*)."""

    metric: GateMetric | None = None
    accuracy_floor: Share | None = None
    recall_floor: Share | None = None  # per class
    seed_tolerance: Share | None = None


class DatasetSpec(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    spec_version: Literal[1] = SPEC_VERSION
    name: ModelName
    description: str = ""
    label: Name  # the label column of the seed data
    features: Annotated[list[FeatureSpec], msgspec.Meta(min_length=1, max_length=MAX_FEATURES)]
    classes: Annotated[list[ClassSpec], msgspec.Meta(min_length=2, max_length=MAX_CLASSES)]
    seed_data: Annotated[str, msgspec.Meta(min_length=1)]  # CSV, relative to the spec file
    holdout_percent: Annotated[int, msgspec.Meta(ge=1, le=99)] = 20
    gate: GateSpec = msgspec.field(default_factory=GateSpec)

    def __post_init__(self) -> None:
        _unique("feature name", [f.name for f in self.features])
        _unique("class name", [c.name for c in self.classes])
        _unique("class value", [c.data_value for c in self.classes])
        if self.label in self.feature_names:
            raise ValueError(f"label column {self.label!r} is also a feature")

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    def class_index(self, name: str) -> int:
        """The integer label a model uses for a class: its position in ``classes``."""
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(f"unknown class {name!r}; classes are {self.class_names}") from None

    def seed_path(self, spec_path: Path) -> Path:
        return (spec_path.parent / self.seed_data).resolve()


def _unique(what: str, names: list[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"{what} {name!r} appears twice")
        seen.add(name)


def decode(text: str | bytes, source: str = "spec") -> DatasetSpec:
    try:
        return msgspec.toml.decode(text, type=DatasetSpec)
    except msgspec.DecodeError as exc:  # ValidationError included: it names the field
        raise SpecError(f"{source}: {exc}") from None


def load(path: Path) -> DatasetSpec:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"{path}: cannot read the spec ({exc.strerror})") from None
    return decode(data, str(path))


def load_default() -> DatasetSpec:
    return load(DEFAULT_SPEC_PATH)


def canonical_json(value: Any) -> bytes:
    return msgspec.json.encode(value, order="sorted")


def digest(spec: DatasetSpec) -> str:
    return hashlib.sha256(canonical_json(spec)).hexdigest()


def model_digest(spec: DatasetSpec) -> str:
    bound = {
        "spec_version": spec.spec_version,
        "features": spec.feature_names,
        "label": spec.label,
        "classes": [[c.name, c.data_value] for c in spec.classes],
    }
    return hashlib.sha256(canonical_json(bound)).hexdigest()


def json_schema() -> dict[str, Any]:
    schema = msgspec.json.schema(DatasetSpec)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"svmflow data set spec (spec_version {SPEC_VERSION}), written as TOML"
    return schema


def to_toml(spec: DatasetSpec, feature_notes: dict[str, str] | None = None) -> str:
    """The spec as TOML, with an optional comment above each feature (``svmflow init`` notes the
    observed range there). Hand-written because the standard library reads TOML but cannot write it;
    ``decode(to_toml(spec)) == spec`` is tested."""
    notes = feature_notes or {}
    lines = [
        "# svmflow data set spec; JSON Schema: schema/dataset-spec.schema.json",
        f"spec_version = {spec.spec_version}",
        f"name = {_string(spec.name)}",
        f"description = {_string(spec.description)}",
        f"label = {_string(spec.label)}",
        f"seed_data = {_string(spec.seed_data)}",
        f"holdout_percent = {spec.holdout_percent}",
    ]
    for cls in spec.classes:
        lines += ["", "[[classes]]", f"name = {_string(cls.name)}"]
        if cls.value is not None:
            lines.append(f"value = {_string(cls.value)}")
    for feature in spec.features:
        lines.append("")
        if feature.name in notes:
            lines.append(f"# {notes[feature.name]}")
        lines += ["[[features]]", f"name = {_string(feature.name)}"]
        for key in ("min", "max"):
            bound = getattr(feature, key)
            if bound is not None:
                lines.append(f"{key} = {float(bound)!r}")
        if feature.unit is not None:
            lines.append(f"unit = {_string(feature.unit)}")
    lines += ["", "# Unset keys take the deployment's SVMFLOW_GATE_* settings.", "[gate]"]
    for key in ("metric", "accuracy_floor", "recall_floor", "seed_tolerance"):
        value = getattr(spec.gate, key)
        if value is not None:
            lines.append(f"{key} = {_string(value) if isinstance(value, str) else repr(float(value))}")
    return "\n".join(lines) + "\n"


def _string(value: str) -> str:
    # A JSON string without ASCII escaping is a valid TOML basic string (control characters come out
    # as \uXXXX, which TOML accepts; non-ASCII text stays as it is, so no surrogate pairs).
    return json.dumps(value, ensure_ascii=False)
