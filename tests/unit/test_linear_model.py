from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from svmflow.domain.linear_model import LinearModel
from svmflow.domain.training import FEATURE_NAMES, read_seed_csv, to_arrays

DATA = Path(__file__).resolve().parents[2] / "data" / "banknote.csv"


@pytest.fixture(scope="module")
def fitted() -> tuple[object, np.ndarray]:
    x, y = to_arrays(read_seed_csv(DATA))
    pipeline = make_pipeline(StandardScaler(), LinearSVC(dual="auto", max_iter=20_000)).fit(x, y)
    return pipeline, x


def test_serving_matches_scikit_learn_exactly(fitted) -> None:  # type: ignore[no-untyped-def]
    pipeline, x = fitted
    model = LinearModel.from_bytes(LinearModel.from_pipeline(pipeline, FEATURE_NAMES).to_bytes())
    labels, scores = model.predict(x)
    np.testing.assert_array_equal(labels, pipeline.predict(x))
    np.testing.assert_array_equal(scores, pipeline.decision_function(x))


def test_artifact_is_plain_json_not_a_pickle(fitted) -> None:  # type: ignore[no-untyped-def]
    data = LinearModel.from_pipeline(fitted[0], FEATURE_NAMES).to_bytes()
    assert data.lstrip().startswith(b"{")
    assert b'"format": "svmflow.linear-svm/1"' in data


@pytest.mark.parametrize(
    "mutation",
    [
        lambda a: a.replace(b"svmflow.linear-svm/1", b"pickle/5"),
        lambda a: a.replace(b'"entropy"', b'"entropy", "extra"'),
        lambda a: a[:-10],
    ],
)
def test_malformed_artifacts_are_refused(fitted, mutation) -> None:  # type: ignore[no-untyped-def]
    data = LinearModel.from_pipeline(fitted[0], FEATURE_NAMES).to_bytes()
    with pytest.raises(ValueError):  # noqa: PT011 (msgspec errors are ValueErrors too)
        LinearModel.from_bytes(mutation(data))
