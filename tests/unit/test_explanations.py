"""Exact explanations: each feature's contribution is its weight times its standardised value."""

from __future__ import annotations

from pathlib import Path

import msgspec
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from svmflow import contracts
from svmflow.domain.explanations import Explainer, contributions, explanation_key, per_record
from svmflow.domain.linear_model import LinearModel
from svmflow.domain.training import FEATURE_NAMES, read_seed_csv, to_arrays

DATA = Path(__file__).resolve().parents[2] / "data" / "banknote.csv"


@pytest.fixture(scope="module")
def model_and_rows() -> tuple[LinearModel, np.ndarray]:
    x, y = to_arrays(read_seed_csv(DATA))
    pipeline = make_pipeline(StandardScaler(), LinearSVC(dual="auto", max_iter=20_000)).fit(x, y)
    return LinearModel.from_pipeline(pipeline, FEATURE_NAMES), x


def test_contributions_plus_intercept_are_the_score(model_and_rows) -> None:  # type: ignore[no-untyped-def]
    model, x = model_and_rows
    _, scores = model.predict(x.copy())
    values = contributions(model.explainer, x)
    assert values.shape == (1, len(x), 4)
    np.testing.assert_allclose(values.sum(axis=2)[0] + model.intercept[0], scores, rtol=0, atol=1e-12)


def test_a_contribution_is_weight_times_standardised_value(model_and_rows) -> None:  # type: ignore[no-untyped-def]
    model, x = model_and_rows
    row = x[7]
    expected = [model.coef[0, j] * (row[j] - model.mean[j]) / model.scale[j] for j in range(4)]
    np.testing.assert_allclose(per_record(model.explainer, x[7:8])[0][0], expected, rtol=1e-15)


def test_the_explainer_survives_the_predictions_message(model_and_rows) -> None:  # type: ignore[no-untyped-def]
    model, _ = model_and_rows
    decoded = msgspec.json.decode(contracts.encode_value(model.explainer), type=Explainer)
    assert decoded == model.explainer
    key = explanation_key(decoded)
    assert key.feature_names == list(FEATURE_NAMES)
    assert key.decisions == [int(model.classes[1])]  # a positive score means the second class


def test_multi_class_gets_one_set_of_contributions_per_class() -> None:
    explainer = Explainer(
        feature_names=["a", "b"],
        classes=[0, 1, 2],
        mean=[1.0, 2.0],
        scale=[2.0, 4.0],
        coef=[[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]],
        intercept=[0.1, 0.2, 0.3],
    )
    records = per_record(explainer, np.array([[3.0, 6.0], [1.0, 2.0]]))
    assert records[0] == [[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]
    assert records[1] == [[0.0, 0.0], [0.0, 0.0], [-0.0, -0.0]]
    assert explanation_key(explainer).decisions == [0, 1, 2]


@pytest.mark.parametrize(
    "fields",
    [
        {"mean": [0.0]},
        {"scale": [1.0, 1.0, 1.0]},
        {"coef": [[1.0]]},
        {"intercept": [0.0, 0.0]},
        {"coef": [[1.0, 1.0], [1.0, 1.0]], "intercept": [0.0, 0.0]},  # neither one row nor one per class
    ],
)
def test_an_inconsistent_explainer_is_refused(fields: dict[str, object]) -> None:
    base: dict[str, object] = {
        "feature_names": ["a", "b"],
        "classes": [0, 1, 2],
        "mean": [0.0, 0.0],
        "scale": [1.0, 1.0],
        "coef": [[1.0, 1.0]],
        "intercept": [0.0],
    }
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(base | fields), type=Explainer)
