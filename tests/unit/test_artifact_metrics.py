"""Artifact metadata already in buckets was written with ``metrics`` as a plain JSON object: it must
decode into the typed metrics, be read by every reader, and encode back to the same keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from svmflow.adapters.local_bucket import LocalBucket
from svmflow.contracts import ArtifactMetrics, TrainingRequest
from svmflow.handlers.drift_monitor import ReferenceProfiles
from svmflow.model_registry import POINTER_PATH, ArtifactMetadata, ModelRegistry, Pointer
from svmflow.training.resume import promoted_earlier

# Written by ``svmflow train`` on a fresh state before the metrics were typed: a first model, promoted.
STORED = Path(__file__).parent / "data" / "artifact_metadata_untyped_metrics.json"
VERSION = "20261201T182545-c31d06d2"
JOB_ID = "job-manual-20261201T182543402934"


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    bucket = LocalBucket(tmp_path)
    bucket.write(f"models/{VERSION}/metadata.json", STORED.read_bytes())
    return ModelRegistry(bucket)


def test_stored_metadata_decodes_into_typed_metrics(registry: ModelRegistry) -> None:
    metrics = registry.metadata(VERSION).metrics
    assert metrics.champion_version is None
    assert metrics.labels_total == 0
    assert metrics.new_labels == 0
    assert metrics.n_features == 4
    assert metrics.feature_names == ["variance", "skewness", "curtosis", "entropy"]
    assert metrics.challenger is not None
    assert metrics.challenger.seed_holdout_accuracy == pytest.approx(0.9963369963369964)
    assert metrics.champion is None
    assert metrics.reference is not None
    assert metrics.reference.source == "cross_validation"
    assert metrics.reference.rows == 1099
    assert metrics.record is not None
    assert metrics.record.verdict == "promoted"
    assert metrics.record.challenger_seed.rows == 273
    assert metrics.training is not None
    assert metrics.training.c == 1.0
    assert metrics.drift_reference is not None
    assert [f.name for f in metrics.drift_reference.features] == metrics.feature_names


def test_typed_metadata_encodes_back_to_the_stored_json() -> None:
    stored = json.loads(STORED.read_bytes())
    decoded = msgspec.json.decode(STORED.read_bytes(), type=ArtifactMetadata)
    assert json.loads(msgspec.json.encode(decoded)) == stored


def test_drift_monitor_and_a_retried_job_read_the_stored_metadata(registry: ModelRegistry) -> None:
    profile = ReferenceProfiles(registry).of(VERSION)
    assert profile is not None
    assert profile.rows == 1099

    pointer = Pointer(version=VERSION, sha256="-", promoted_at=datetime.now(UTC), reason="promoted")
    registry.bucket.write(POINTER_PATH, msgspec.json.encode(pointer))
    event = promoted_earlier(
        JOB_ID, TrainingRequest(request_id="r-1", reason="manual", requested_at=datetime.now(UTC)), registry
    )
    assert event is not None
    assert event.previous_version is None
    assert event.n_features == 4
    assert event.record is not None
    assert event.record.verdict == "promoted"
    assert event.training is not None
    assert event.training.train_rows == 1099


def test_metrics_from_before_labels_and_references_were_stored_decode_with_defaults() -> None:
    older = {
        "challenger": {
            "seed_holdout_accuracy": 0.9,
            "seed_holdout_size": 10,
            "feedback_holdout_accuracy": None,
            "feedback_holdout_size": 0,
        },
        "champion": None,
        "n_features": 4,
    }
    metrics = msgspec.convert(older, ArtifactMetrics)
    assert metrics.challenger is not None
    assert metrics.challenger.seed_holdout_size == 10
    assert metrics.labels_total is None  # the next training counts every label as new
    assert metrics.reference is None
    assert metrics.drift_reference is None  # its inputs are not monitored for drift
    assert metrics.record is None
    assert metrics.new_labels == 0
