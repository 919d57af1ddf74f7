"""Records keyed by feature name become rows in the spec's order; a mismatch names the record and field."""

from __future__ import annotations

import pytest

from svmflow.datasets import spec as specs
from svmflow.datasets.named_records import RecordError, check_bounds, rows_from_named
from svmflow.datasets.spec import ClassSpec, DatasetSpec, FeatureSpec

BANKNOTE = specs.load_default()
ONE = {"entropy": -0.4, "variance": 3.6, "curtosis": -2.8, "skewness": 8.7}


def test_named_records_become_rows_in_the_spec_order() -> None:
    assert rows_from_named([ONE, {**ONE, "variance": -1}], BANKNOTE) == [
        [3.6, 8.7, -2.8, -0.4],
        [-1, 8.7, -2.8, -0.4],
    ]


@pytest.mark.parametrize(
    ("record", "field", "message"),
    [
        ({k: v for k, v in ONE.items() if k != "skewness"}, "skewness", "feature 'skewness' is missing"),
        ({**ONE, "colour": 1.0}, "colour", "'colour' is not a feature; the features are variance, skewness"),
        (
            {**{k: v for k, v in ONE.items() if k != "skewness"}, "skewnes": 1.0},
            "skewnes",
            "'skewnes' is not a feature; did you mean 'skewness'?",
        ),
        (
            {**{k: v for k, v in ONE.items() if k != "curtosis"}, "kurtosis": 1.0},
            "kurtosis",
            "did you mean 'curtosis'?",
        ),
        ({**ONE, "entropy": "high"}, "entropy", "feature 'entropy' must be a number, got str 'high'"),
        ({**ONE, "entropy": True}, "entropy", "feature 'entropy' must be a number, got true"),
        ({**ONE, "entropy": None}, "entropy", "got null"),
        ({**ONE, "entropy": float("inf")}, "entropy", "feature 'entropy' must be finite"),
    ],
)
def test_a_record_that_does_not_match_names_its_index_and_field(
    record: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(RecordError) as caught:
        rows_from_named([ONE, ONE, record], BANKNOTE)
    assert caught.value.index == 2
    assert caught.value.field == field
    assert str(caught.value).startswith("record 2: ")
    assert message in str(caught.value)


def test_bounds_are_checked_for_named_and_positional_records() -> None:
    spec = DatasetSpec(
        name="bounded",
        label="y",
        features=[FeatureSpec(name="age", min=0, max=130, unit="years"), FeatureSpec(name="score")],
        classes=[ClassSpec(name="a"), ClassSpec(name="b")],
        seed_data="x.csv",
    )
    assert rows_from_named([{"age": 0, "score": -1e9}, {"age": 130, "score": 1e9}], spec)
    with pytest.raises(RecordError, match="record 1: feature 'age' is 131, above its maximum 130"):
        rows_from_named([{"age": 1, "score": 0}, {"age": 131, "score": 0}], spec)
    with pytest.raises(RecordError, match=r"record 0: feature 'age' is -0\.5, below its minimum 0"):
        check_bounds([[-0.5, 0.0]], spec)
