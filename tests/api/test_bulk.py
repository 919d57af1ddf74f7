"""Bulk files through both APIs on the embedded runtime: submit-time checks, streaming in chunks,
results and errors next to the input, progress, one model version for the whole file."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import msgspec
import numpy as np
import pytest

from api.batch_ids import BatchIds
from tests.api.conftest import AUTH, FORGED, GENUINE, System
from tests.builders import _ROWS


def put(system: System, name: str, data: bytes) -> str:
    path = f"bulk/{uuid.uuid4().hex[:8]}/{name}"
    system.container.bucket.write(path, data)
    return path


def submit(system: System, uri: str, **headers: str) -> Any:
    return system.ingest.post("/v1/jobs/bulk", json={"uri": uri}, headers={**AUTH, **headers})


def finished(system: System, job_id: str) -> dict[str, Any]:
    system.drain()
    response = system.predict.get(f"/v1/jobs/bulk/{job_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def read_csv(system: System, uri: str) -> list[list[str]]:
    path = uri.removeprefix(system.container.bucket.uri_prefix)
    blob = system.container.bucket.read(path)
    assert blob is not None, path
    return list(csv.reader(io.StringIO(blob.data.decode())))


def offline_labels(system: System, version: str, features: list[list[float]]) -> list[int]:
    model = system.container.registry.load(version)
    labels, _ = model.predict(np.asarray(features, dtype=np.float64))
    return [int(x) for x in labels]


def test_a_csv_with_bad_rows_gives_results_and_an_error_file(system: System) -> None:
    good = [r.features for r in _ROWS[:130]]
    lines = ["subject,variance,skewness,curtosis,entropy"]
    expected: list[tuple[int, str, list[float]]] = []
    bad_lines: dict[int, str] = {}
    for i, features in enumerate(good):
        lines.append(f"note-{i}," + ",".join(repr(x) for x in features))
        expected.append((len(lines), f"note-{i}", list(features)))
        if i == 10:
            lines.append("bad-1,1.0,not-a-number,3.0,4.0")
            bad_lines[len(lines)] = "could not convert"
        if i == 60:
            lines.append("bad-2,1.0,2.0,3.0")
            bad_lines[len(lines)] = "columns"
        if i == 61:
            lines.append("")  # blank: skipped, not an error
        if i == 100:
            lines.append("bad-3,1.0,nan,3.0,4.0")
            bad_lines[len(lines)] = "finite"
    path = put(system, "notes.csv", ("\n".join(lines) + "\n").encode())

    response = submit(system, path)
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"].endswith(f"/v1/jobs/bulk/{job['job_id']}")
    progress = finished(system, job["job_id"])

    assert progress["status"] == "done", progress
    assert progress["rows_done"] == len(good)
    assert progress["rows_failed"] == len(bad_lines)
    assert progress["rows_total"] == len(good)  # rows to predict; bad lines apart
    assert progress["chunks_total"] == progress["chunks_done"] == 3  # 130 rows in chunks of 50
    assert progress["eta_seconds"] == 0
    assert progress["rows_per_second"] > 0

    results = read_csv(system, progress["results_uri"])
    assert results[0] == ["line", "subject", "label", "score"]
    assert [(int(r[0]), r[1]) for r in results[1:]] == [(line, s) for line, s, _ in expected]
    version = progress["model_version"]
    assert version == system.container.read_model.current_model().version
    assert [int(r[2]) for r in results[1:]] == offline_labels(system, version, [f for *_, f in expected])

    errors = read_csv(system, progress["errors_uri"])
    assert errors[0] == ["line", "error"]
    assert [int(e[0]) for e in errors[1:]] == sorted(bad_lines)
    for line, reason in errors[1:]:
        assert bad_lines[int(line)] in reason

    manifest_path = progress["manifest_uri"].removeprefix(system.container.bucket.uri_prefix)
    manifest = msgspec.json.decode(system.container.bucket.read(manifest_path).data)  # type: ignore[union-attr]
    assert manifest["model_version"] == version
    assert manifest["rows_predicted"] == len(good)
    assert manifest["rows_failed"] == len(bad_lines)
    # The output sits next to the input; the per-chunk parts are gone once assembled.
    assert manifest_path.startswith(path + ".out/")
    assert not [p for p in system.container.bucket.list(path + ".out/") if "/parts/" in p]


def test_json_lines_without_subjects_are_named_by_line(system: System) -> None:
    body = b"\n".join(
        [json.dumps({"features": GENUINE}).encode(), json.dumps(FORGED).encode(), b'{"features": [1, 2]}']
    )
    path = put(system, "rows.jsonl", body)
    response = submit(system, f"gs://{system.container.settings.model_bucket}/{path}")
    assert response.status_code == 202, response.text
    progress = finished(system, response.json()["job_id"])
    assert progress["status"] == "done", progress
    results = read_csv(system, progress["results_uri"])
    assert [(r[0], r[1], r[2]) for r in results[1:]] == [("1", "", "0"), ("2", "", "1")]
    errors = read_csv(system, progress["errors_uri"])
    assert [e[0] for e in errors[1:]] == ["3"]
    assert "2 features" in errors[1][1]


def test_an_idempotency_key_names_one_job(system: System) -> None:
    path = put(system, "same.csv", b"variance,skewness,curtosis,entropy\n1,2,3,4\n")
    first = submit(system, path, **{"Idempotency-Key": "bulk-1"}).json()["job_id"]
    second = submit(system, path, **{"Idempotency-Key": "bulk-1"}).json()["job_id"]
    assert first == second
    assert finished(system, first)["rows_done"] == 1


@pytest.mark.parametrize(
    ("name", "data", "status", "says"),
    [
        ("notes.txt", b"a,b,c,d\n1,2,3,4\n", 422, ".csv, .jsonl or .ndjson"),
        ("narrow.csv", b"a,b,c\n1,2,3\n", 422, "3 feature columns but the model expects 4"),
        ("latin1.csv", "variance,skewness,curtosis,entropie\u00e9\n".encode("latin-1"), 422, "UTF-8"),
        ("empty.jsonl", b"", 422, "empty"),
        ("garbage.jsonl", b"this is not json\n", 422, "line 1"),
    ],
)
def test_a_file_in_another_format_is_refused_at_submit(
    system: System, name: str, data: bytes, status: int, says: str
) -> None:
    before = system.spy.count("bulk-requests")
    response = submit(system, put(system, name, data))
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["field"] == "uri"
    assert says in problem["detail"]
    assert system.spy.count("bulk-requests") == before


@pytest.mark.parametrize(
    ("uri", "status", "says"),
    [
        ("bulk/never-uploaded.csv", 404, "not in the bucket"),
        ("gs://another-bucket/bulk/x.csv", 422, "not gs://another-bucket/"),
        ("models/pointer.csv", 422, "under bulk/"),
        ("bulk/../models/x.csv", 422, "under bulk/"),
        ("https://example.com/x.csv", 422, "gs://"),
    ],
)
def test_a_file_that_is_not_there_or_not_allowed_is_refused(
    system: System, uri: str, status: int, says: str
) -> None:
    response = submit(system, uri)
    assert response.status_code == status, response.text
    assert response.json()["field"] == "uri"
    assert says in response.json()["detail"]


def test_progress_of_an_unknown_job(system: System) -> None:
    never = system.predict.get("/v1/jobs/bulk/not-an-id", headers=AUTH)
    assert never.status_code == 404
    issued = BatchIds(system.container.secrets).issue()
    queued = system.predict.get(f"/v1/jobs/bulk/{issued}", headers=AUTH)
    assert queued.status_code == 202
    assert queued.json() == {"job_id": issued, "status": "queued"}


def test_a_chunk_is_predicted_by_its_pinned_version_not_production(system: System) -> None:
    """Production may move while a file streams: each chunk names the version pinned at the split."""
    import dataclasses
    from datetime import UTC, datetime

    from svmflow.contracts import BulkChunk, PredictionRequest
    from svmflow.handlers.prediction import predict_chunk
    from svmflow.model_registry import sha256_hex

    registry = system.container.registry
    pointer, _ = registry.pointer()
    assert pointer is not None
    production = registry.load(pointer.version)
    # A different model: the same boundary with the sides swapped, so every label flips.
    flipped = dataclasses.replace(production, coef=-production.coef, intercept=-production.intercept)
    artifact = flipped.to_bytes()
    version = f"pinned-{uuid.uuid4().hex[:8]}"
    metadata = msgspec.structs.replace(
        registry.metadata(pointer.version), version=version, sha256=sha256_hex(artifact)
    )
    registry.save(flipped, metadata)

    request = PredictionRequest(
        batch_id="job.0",
        subjects=["2", "3"],
        features=[GENUINE, FORGED],
        submitted_at=datetime.now(UTC),
        bulk=BulkChunk(
            job_id="job",
            chunk=0,
            output="bulk/x.out/job/",
            model_version=version,
            model_sha256=metadata.sha256,
        ),
    )
    answer = predict_chunk(request, request.bulk, system.container.models)  # type: ignore[arg-type]
    assert answer.model_version == version != pointer.version
    assert answer.labels == [1, 0]  # production says [0, 1]
    assert answer.lines == [2, 3]
    assert system.container.models.current().version == pointer.version
