"""Prediction core throughput: decode a request, predict, encode the result; no network.

* ``svmflow``: the prediction function's own path (validated decode, the hot-swapping model server,
  numpy's decision function, encode).
* ``floor``: the least any implementation must do: untyped JSON decode, one matrix product, JSON
  encode, with the same fast JSON library.
* ``reference``: the common approach: load a joblib-pickled scikit-learn pipeline and call
  ``predict`` for every message, with the standard library's JSON.

Two models: the banknote one (4 features, binary) and a wide one (30 features, 3 classes, one-vs-rest,
on synthetic data). For the wide one the floor's matrix product gives one score per class, and it takes
the argmax and encodes the labels: the least that answers a multi-class request.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import msgspec
import numpy as np
from numpy.typing import NDArray
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from bench.common import DATA, interleaved, markdown_table, sample_rows, write_json
from svmflow import contracts
from svmflow.adapters.local_bucket import LocalBucket
from svmflow.contracts import PredictionRequest
from svmflow.domain.linear_model import sha256_hex
from svmflow.domain.training import FEATURE_NAMES, LabelledRow, read_seed_csv, to_arrays
from svmflow.handlers.prediction import predict
from svmflow.model_registry import ArtifactMetadata, ModelRegistry, ModelServer

SIZES = (10, 100, 1_000, 10_000)


WIDE_FEATURES, WIDE_CLASSES = 30, 3


def _request(rows: int, features: list[list[float]] | None = None) -> bytes:
    features = sample_rows(rows) if features is None else features
    request = PredictionRequest(
        batch_id="bench",
        subjects=[f"s{i}" for i in range(rows)],
        features=features,
        submitted_at=datetime.now(UTC),
    )
    return contracts.encode(request)


def _fitted() -> Any:
    train: list[LabelledRow] = read_seed_csv(DATA)
    x, y = to_arrays(train)
    return make_pipeline(StandardScaler(), LinearSVC(dual="auto", random_state=0)).fit(x, y)


def _wide() -> tuple[Any, NDArray[np.float64]]:
    """A one-vs-rest model of 30 features and 3 classes, and the rows to sample requests from."""
    x, y = make_classification(
        n_samples=3_000,
        n_features=WIDE_FEATURES,
        n_informative=12,
        n_classes=WIDE_CLASSES,
        random_state=0,
    )
    pipeline = make_pipeline(StandardScaler(), LinearSVC(dual="auto", max_iter=20_000, random_state=0))
    return pipeline.fit(x, y), x


def _sampler(x: NDArray[np.float64]) -> Callable[[int], list[list[float]]]:
    def sample(count: int) -> list[list[float]]:
        picks = np.random.default_rng(7).integers(0, len(x), size=count)
        return x[picks].tolist()  # type: ignore[no-any-return]

    return sample


def run(workdir: Path, rounds: int = 7) -> dict[str, Any]:
    banknote = _measure(workdir / "banknote", _fitted(), FEATURE_NAMES, sample_rows, rounds)
    pipeline, x = _wide()
    names = [f"f{i}" for i in range(WIDE_FEATURES)]
    wide = _measure(workdir / "wide", pipeline, names, _sampler(x), rounds)
    return {
        "benchmark": "prediction_core",
        "results": banknote,
        "wide": {"features": WIDE_FEATURES, "classes": WIDE_CLASSES, "results": wide},
        "goals": {"vs_floor_at_1000": 0.5, "vs_reference_at_10": 50.0, "wide_vs_floor_at_1000": 0.5},
    }


def _measure(
    workdir: Path,
    pipeline: Any,
    feature_names: list[str],
    sample: Callable[[int], list[list[float]]],
    rounds: int,
) -> list[dict[str, Any]]:
    from svmflow.domain.linear_model import LinearModel

    model = LinearModel.from_pipeline(pipeline, feature_names)
    registry = ModelRegistry(LocalBucket(workdir / "bucket"))
    artifact = model.to_bytes()
    registry.save(
        model,
        ArtifactMetadata(
            version="bench",
            sha256=sha256_hex(artifact),
            created_at=datetime.now(UTC),
            job_id="bench",
            data_fingerprint="",
            train_size=0,
            feedback_rows=0,
            metrics={},
            library_versions={},
        ),
    )
    registry.promote("bench", 0)
    server = ModelServer(registry, refresh_seconds=10)
    joblib_path = workdir / "model.joblib"
    joblib.dump(pipeline, joblib_path)
    weights, bias = (
        model.coef.T / model.scale[:, None],
        model.intercept - (model.mean / model.scale) @ model.coef.T,
    )

    def svmflow_path(message: bytes) -> bytes:
        request = contracts.decode(message, PredictionRequest)
        return contracts.encode(predict(request, server, message))

    def floor_binary(message: bytes) -> bytes:
        features = np.asarray(msgspec.json.decode(message)["features"], dtype=np.float64)
        scores = (features @ weights + bias).ravel()
        return msgspec.json.encode(scores.tolist())

    def floor_multiclass(message: bytes) -> bytes:
        features = np.asarray(msgspec.json.decode(message)["features"], dtype=np.float64)
        return msgspec.json.encode((features @ weights + bias).argmax(axis=1).tolist())

    floor = floor_binary if model.is_binary else floor_multiclass

    def reference(message: bytes) -> bytes:
        loaded = joblib.load(joblib_path)
        body = json.loads(message)
        labels = loaded.predict(np.asarray(body["features"]))
        return json.dumps({"batch_id": body["batch_id"], "labels": labels.tolist()}).encode()

    results = []
    for size in SIZES:
        message = _request(size, sample(size))
        # The three must agree before their speed means anything.
        ours = msgspec.json.decode(svmflow_path(message))
        assert ours["labels"] == json.loads(reference(message))["labels"]
        timings = interleaved(
            {
                "svmflow": lambda m=message: svmflow_path(m),
                "floor": lambda m=message: floor(m),
                "reference": lambda m=message: reference(m),
            },
            rounds=rounds,
        )
        rate = {name: size / t.seconds_per_call for name, t in timings.items()}
        results.append(
            {
                "rows": size,
                "records_per_second": rate,
                "vs_floor": rate["svmflow"] / rate["floor"],
                "vs_reference": rate["svmflow"] / rate["reference"],
            }
        )
    return results


def table(payload: dict[str, Any]) -> str:
    wide = payload.get("wide")
    shapes = [("4, 2", payload["results"])]
    if wide:
        shapes.append((f"{wide['features']}, {wide['classes']}", wide["results"]))
    rows = [
        [
            shape,
            f"{r['rows']:,}",
            f"{r['records_per_second']['svmflow']:,.0f}",
            f"{r['records_per_second']['floor']:,.0f}",
            f"{r['records_per_second']['reference']:,.0f}",
            f"{r['vs_floor']:.2f}",
            f"{r['vs_reference']:.1f}",
        ]
        for shape, results in shapes
        for r in results
    ]
    header = [
        "features, classes",
        "rows/batch",
        "svmflow rec/s",
        "floor rec/s",
        "reference rec/s",
        "svmflow/floor",
        "svmflow/reference",
    ]
    return markdown_table(header, rows)


def main() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        payload = run(Path(tmp))
    write_json("prediction_core", payload)
    print(table(payload))
    return payload


if __name__ == "__main__":
    main()
