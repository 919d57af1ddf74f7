"""One-vs-rest models served with numpy alone, exactly as scikit-learn predicts them."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from svmflow.domain.explanations import Explainer
from svmflow.domain.fitting import TrainingDataError, fit_linear_svm
from svmflow.domain.linear_model import ARTIFACT_FORMAT, MULTICLASS_ARTIFACT_FORMAT, LinearModel

DATASETS = {"wine": load_wine, "breast_cancer": load_breast_cancer}


def _pipeline(name: str) -> tuple[object, np.ndarray, list[str]]:
    bunch = DATASETS[name]()
    x = np.asarray(bunch.data, dtype=np.float64)
    pipeline = make_pipeline(StandardScaler(), LinearSVC(dual="auto", max_iter=20_000, random_state=0))
    pipeline.fit(x, bunch.target)
    return pipeline, x, list(bunch.feature_names)


@pytest.mark.parametrize(("name", "features", "classes"), [("wine", 13, 3), ("breast_cancer", 30, 2)])
def test_served_labels_and_scores_equal_scikit_learn_on_every_row(
    name: str, features: int, classes: int
) -> None:
    pipeline, x, names = _pipeline(name)
    model = LinearModel.from_bytes(LinearModel.from_pipeline(pipeline, names).to_bytes())
    assert (model.n_features, model.n_classes) == (features, classes)
    labels, _ = model.predict(x)
    np.testing.assert_array_equal(labels, pipeline.predict(x))  # type: ignore[attr-defined]
    np.testing.assert_array_equal(model.decision_function(x), pipeline.decision_function(x))  # type: ignore[attr-defined]


def test_multiclass_score_is_the_predicted_class_score_and_class_scores_argmax_to_the_label() -> None:
    pipeline, x, names = _pipeline("wine")
    model = LinearModel.from_pipeline(pipeline, names)
    labels, scores = model.predict(x)
    per_class = model.class_scores(x)
    assert per_class.shape == (len(x), 3)
    np.testing.assert_array_equal(model.classes[per_class.argmax(axis=1)], labels)
    np.testing.assert_array_equal(scores, per_class.max(axis=1))
    # The rows really disagree between classes, so the argmax is exercised on every class.
    assert set(labels.tolist()) == {0, 1, 2}


def test_binary_class_scores_are_the_decision_and_its_negation() -> None:
    pipeline, x, names = _pipeline("breast_cancer")
    model = LinearModel.from_pipeline(pipeline, names)
    labels, scores = model.predict(x)
    per_class = model.class_scores(x)
    np.testing.assert_array_equal(per_class, np.column_stack((-scores, scores)))
    np.testing.assert_array_equal(model.classes[per_class.argmax(axis=1)], labels)


def test_binary_and_multiclass_artifacts_keep_separate_formats() -> None:
    wine = LinearModel.from_pipeline(_pipeline("wine")[0], _pipeline("wine")[2]).to_bytes()
    cancer = LinearModel.from_pipeline(*_pipeline("breast_cancer")[::2]).to_bytes()
    assert f'"format": "{MULTICLASS_ARTIFACT_FORMAT}"'.encode() in wine
    assert f'"format": "{ARTIFACT_FORMAT}"'.encode() in cancer
    # A binary artifact keeps a flat weight vector and a single intercept, as before.
    assert b'"intercept": [' not in cancer
    assert b'"intercept": [' in wine


@pytest.mark.parametrize(
    ("mutation", "problem"),
    [
        (lambda a: a.replace(b'"classes": [\n    0,', b'"classes": [\n    1,'), "classes repeat"),
        (lambda a: a.replace(b'"classes": [\n    0,\n    1,\n    2\n  ]', b'"classes": [0, 1]'), "three"),
        (lambda a: a.replace(b'"alcohol"', b'"alcohol", "extra"'), "lengths differ"),
        (lambda a: a.replace(b'"intercept": [', b'"intercept": [0.5, '), "one weight row and intercept"),
    ],
)
def test_malformed_multiclass_artifacts_are_refused(mutation, problem: str) -> None:  # type: ignore[no-untyped-def]
    pipeline, _, names = _pipeline("wine")
    data = LinearModel.from_pipeline(pipeline, names).to_bytes()
    changed = mutation(data)
    assert changed != data
    with pytest.raises(ValueError, match=problem):
        LinearModel.from_bytes(changed)


def test_fit_linear_svm_trains_one_vs_rest_and_matches_its_own_pipeline() -> None:
    bunch = load_wine()
    x, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target, dtype=np.int64)
    model = fit_linear_svm(x, y, list(bunch.feature_names))
    pipeline, _, _ = _pipeline("wine")
    assert model.coef.shape == (3, 13)
    np.testing.assert_array_equal(model.predict(x)[0], pipeline.predict(x))  # type: ignore[attr-defined]
    assert model.feature_names == tuple(bunch.feature_names)


def test_fit_linear_svm_refuses_one_class_and_misnamed_columns() -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    with pytest.raises(TrainingDataError, match="at least two classes"):
        fit_linear_svm(x, np.zeros(4, dtype=np.int64), ["a", "b", "c"])
    with pytest.raises(TrainingDataError, match="3 feature columns for 2 feature names"):
        fit_linear_svm(x, np.array([0, 1, 0, 1]), ["a", "b"])


def test_the_prediction_handler_serves_a_stored_one_vs_rest_model(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from svmflow.adapters.local_bucket import LocalBucket
    from svmflow.contracts import ArtifactMetrics, PredictionRequest
    from svmflow.domain.linear_model import sha256_hex
    from svmflow.handlers.prediction import predict
    from svmflow.model_registry import ArtifactMetadata, ModelRegistry, ModelServer

    pipeline, x, names = _pipeline("wine")
    model = LinearModel.from_pipeline(pipeline, names)
    registry = ModelRegistry(LocalBucket(tmp_path))
    now = datetime.now(UTC)
    metadata = ArtifactMetadata(
        version="wine-1",
        sha256=sha256_hex(model.to_bytes()),
        created_at=now,
        job_id="job",
        data_fingerprint="",
        train_size=len(x),
        feedback_rows=0,
        metrics=ArtifactMetrics(),
        library_versions={},
    )
    registry.save(model, metadata)
    registry.promote("wine-1", 0)
    request = PredictionRequest(
        batch_id="b", subjects=[f"s{i}" for i in range(len(x))], features=x.tolist(), submitted_at=now
    )
    answer = predict(request, ModelServer(registry, refresh_seconds=0))
    assert answer.labels == pipeline.predict(x).tolist()  # type: ignore[attr-defined]
    assert answer.scores == pipeline.decision_function(x).max(axis=1).tolist()  # type: ignore[attr-defined]
    explainer = msgspec.json.decode(answer.explainer, type=Explainer)  # type: ignore[arg-type]
    assert explainer.decisions == [0, 1, 2]


def test_training_fit_accepts_three_classes_and_still_refuses_one() -> None:
    from svmflow.domain.training import SEED, LabelledRow, accuracy, fit

    bunch = load_wine()
    # The four most telling wine features stand in for the four feature names training still assumes.
    x = bunch.data[:, [0, 6, 9, 12]]
    rows = [
        LabelledRow(SEED, f"row-{i}", tuple(r), int(t))
        for i, (r, t) in enumerate(zip(x.tolist(), bunch.target, strict=True))
    ]
    model = fit(rows)
    assert model.coef.shape == (3, 4)
    assert accuracy(model, rows) >= 0.9  # type: ignore[operator]
    with pytest.raises(TrainingDataError, match="two classes or more"):
        fit([r for r in rows if r.label == 1])
