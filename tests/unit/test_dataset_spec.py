"""The data set spec: validated on load with the field named, digests, the published JSON Schema."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from svmflow import schemas
from svmflow.datasets import spec as specs
from svmflow.datasets.csv_table import CsvError
from svmflow.datasets.seed_data import read_seed_rows
from svmflow.datasets.spec import ClassSpec, DatasetSpec, FeatureSpec, GateSpec, SpecError
from svmflow.domain.training import FEATURE_NAMES, read_seed_csv

GOOD = """
name = "iris"
label = "species"
seed_data = "iris.csv"

[[features]]
name = "sepal_length"
unit = "cm"
min = 0.0
max = 10.0

[[features]]
name = "petal_length"

[[classes]]
name = "setosa"

[[classes]]
name = "versicolor"

[[classes]]
name = "virginica"
"""


def test_the_banknote_spec_ships_as_the_default_and_reads_the_seed_data_as_today() -> None:
    spec = specs.load_default()
    assert spec.name == "banknote"
    assert spec.feature_names == FEATURE_NAMES
    assert spec.class_names == ["genuine", "forged"]
    assert [c.data_value for c in spec.classes] == ["0", "1"]
    seed_csv = spec.seed_path(specs.DEFAULT_SPEC_PATH)
    assert seed_csv == specs.DATA_DIR / "banknote.csv"
    assert read_seed_rows(spec, specs.DEFAULT_SPEC_PATH) == read_seed_csv(seed_csv)


def test_a_good_spec_decodes_with_defaults() -> None:
    spec = specs.decode(GOOD)
    assert spec.feature_names == ["sepal_length", "petal_length"]
    assert spec.features[0] == FeatureSpec(name="sepal_length", min=0.0, max=10.0, unit="cm")
    assert spec.holdout_percent == 20
    assert spec.gate == GateSpec()
    assert not spec.is_binary
    assert spec.class_index("virginica") == 2
    with pytest.raises(KeyError, match="unknown class 'virgin'"):
        spec.class_index("virgin")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (('name = "petal_length"', "name = 3"), "Expected `str`, got `int` - at `$.features[1].name`"),
        (('unit = "cm"', 'colour = "red"'), "unknown field `colour` - at `$.features[0]`"),
        (("max = 10.0", "max = -1.0"), "min 0.0 is above max -1.0 - at `$.features[0]`"),
        (('name = "petal_length"', 'name = "sepal_length"'), "feature name 'sepal_length' appears twice"),
        (('name = "virginica"', 'name = "setosa"'), "class name 'setosa' appears twice"),
        (('name = "iris"', 'name = "Iris Flowers"'), "at `$.name`"),
        (('label = "species"', 'label = "petal_length"'), "label column 'petal_length' is also a feature"),
        (('label = "species"\n', ""), "missing required field `label`"),
        (('seed_data = "iris.csv"', 'seed_data = "iris.csv"\nholdout_percent = 0'), "at `$.holdout_percent`"),
        (
            ('seed_data = "iris.csv"', 'seed_data = "iris.csv"\n[gate]\naccuracy_floor = 1.5'),
            "$.gate.accuracy_floor",
        ),
        (('seed_data = "iris.csv"', 'seed_data = "iris.csv"\n[gate]\nmetric = "f1"'), "at `$.gate.metric`"),
        (('[[features]]\nname = "sepal_length"', '[[features]\nname = "sepal_length"'), "line"),
        (('name = "petal_length"', 'name = " petal_length"'), "at `$.features[1].name`"),
    ],
)
def test_a_bad_spec_is_refused_naming_the_field(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    with pytest.raises(SpecError) as caught:
        specs.decode(GOOD.replace(old, new, 1), "iris.toml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("iris.toml: ")


def test_one_class_only_is_refused() -> None:
    one = GOOD.split("[[classes]]")[0] + '[[classes]]\nname = "setosa"\n'
    with pytest.raises(SpecError, match=r"length >= 2 - at `\$.classes`"):
        specs.decode(one)


def test_a_class_value_repeated_is_refused() -> None:
    text = GOOD.replace('name = "versicolor"', 'name = "versicolor"\nvalue = "setosa"')
    with pytest.raises(SpecError, match="class value 'setosa' appears twice"):
        specs.decode(text)


def test_a_missing_spec_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"missing\.toml: cannot read the spec"):
        specs.load(tmp_path / "missing.toml")


def test_the_digest_ignores_formatting_and_sees_every_change() -> None:
    spec = specs.decode(GOOD)
    reformatted = "# a comment\n" + GOOD.replace('label = "species"\n', "").replace(
        'name = "iris"', 'label  =  "species"\nname = "iris"\nholdout_percent = 20'
    )
    assert specs.digest(specs.decode(reformatted)) == specs.digest(spec)
    assert specs.digest(specs.decode(GOOD.replace('unit = "cm"', 'unit = "mm"'))) != specs.digest(spec)
    assert len(specs.digest(spec)) == 64


def test_the_model_digest_binds_features_and_classes_only() -> None:
    spec = specs.decode(GOOD)
    bound = specs.model_digest(spec)
    gate = GOOD + "\n[gate]\naccuracy_floor = 0.8\n"
    assert specs.model_digest(specs.decode(gate)) == bound
    assert specs.model_digest(specs.decode(GOOD.replace("max = 10.0", "max = 20.0"))) == bound
    swapped = GOOD.replace('"setosa"', '"x"').replace('"virginica"', '"setosa"').replace('"x"', '"virginica"')
    assert specs.model_digest(specs.decode(swapped)) != bound
    renamed = GOOD.replace('"petal_length"', '"petal_width"')
    assert specs.model_digest(specs.decode(renamed)) != bound


def test_to_toml_round_trips_every_field() -> None:
    spec = DatasetSpec(
        name="odd-names",
        description='quotes " and \\ backslashes, tabs\t and ünïcödé 🎉',
        label="the label",
        features=[
            FeatureSpec(name='a "quoted" name', min=-1.5, max=2e-7, unit="µm"),
            FeatureSpec(name="plain"),
        ],
        classes=[ClassSpec(name="yes", value="1"), ClassSpec(name="no", value="0")],
        seed_data="../data/odd names.csv",
        holdout_percent=35,
        gate=GateSpec(metric="macro_f1", accuracy_floor=0.8, recall_floor=0.5, seed_tolerance=0.01),
    )
    text = specs.to_toml(spec, {"plain": "observed 1 .. 2"})
    assert '# observed 1 .. 2\n[[features]]\nname = "plain"' in text
    assert specs.decode(text) == spec


def test_the_published_json_schema_is_generated_and_checks_a_spec() -> None:
    published = json.loads((schemas.SCHEMA_DIR / "dataset-spec.schema.json").read_text())
    assert published == json.loads(schemas.render()["dataset-spec.schema.json"])
    validator = jsonschema.Draft202012Validator(published)
    good = tomllib.loads(specs.DEFAULT_SPEC_PATH.read_text())
    assert list(validator.iter_errors(good)) == []
    bad = {**good, "features": [{"name": "x", "colour": "red"}]}
    assert list(validator.iter_errors(bad))


def test_seed_rows_follow_the_spec_order_and_refuse_unknown_labels(tmp_path: Path) -> None:
    (tmp_path / "iris.csv").write_text(
        "species,petal_length,sepal_length\nsetosa,1.4,5.1\nvirginica,5.9,6.8\nversicolor,4.5,6.4\n"
    )
    spec_path = tmp_path / "iris.toml"
    rows = read_seed_rows(specs.decode(GOOD), spec_path)
    assert [(r.features, r.label) for r in rows] == [((5.1, 1.4), 0), ((6.8, 5.9), 2), ((6.4, 4.5), 1)]
    (tmp_path / "iris.csv").write_text("species,petal_length,sepal_length\nsetosa,1.4,5.1\nrose,1,2\n")
    with pytest.raises(CsvError, match="line 3, column 'species': 'rose' is not a class of the spec"):
        read_seed_rows(specs.decode(GOOD), spec_path)
