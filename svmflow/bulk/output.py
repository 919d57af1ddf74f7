"""What a bulk job writes next to its input: per-chunk parts as chunks complete, then one result file,
one error file and a manifest when the last chunk is in."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

import msgspec

from svmflow.bulk.files import BadRow
from svmflow.bulk.progress import BulkProgressStore
from svmflow.ports import BlobStore

RESULTS_HEADER = b"line,subject,label,score\n"
ERRORS_HEADER = b"line,error\n"


def results_part(output: str, chunk: int) -> str:
    return f"{output}parts/results-{chunk:06d}.csv"


def errors_part(output: str, chunk: int) -> str:
    return f"{output}parts/errors-{chunk:06d}.csv"


def results_path(output: str) -> str:
    return f"{output}results.csv"


def errors_path(output: str) -> str:
    return f"{output}errors.csv"


def manifest_path(output: str) -> str:
    return f"{output}manifest.json"


def encode_results(lines: list[int], ids: list[str] | None, labels: list[int], scores: list[float]) -> bytes:
    buffer = io.StringIO()
    if ids is None:
        # No subject column: the line number is the row's name; no quoting needed, so no csv module.
        buffer.writelines(
            f"{n},,{label},{score!r}\n" for n, label, score in zip(lines, labels, scores, strict=True)
        )
    else:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerows(zip(lines, ids, labels, scores, strict=True))
    return buffer.getvalue().encode()


def encode_errors(bad: list[BadRow]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows((row.line, row.reason) for row in bad)
    return buffer.getvalue().encode()


def finish_if_complete(job_id: str, bucket: BlobStore, progress: BulkProgressStore) -> bool:
    """When the split is over and every chunk is in, assemble the output (idempotent: two callers
    racing here write the same files). True when the job is done."""
    raw = progress.raw(job_id)
    if raw.get("status") == "done":
        return True
    if "chunks_total" not in raw or int(raw.get("chunks_done", 0)) < int(raw["chunks_total"]):
        return False
    output, chunks = raw["output"], int(raw["chunks_total"])
    error_chunks = int(raw.get("error_parts", 0))
    bucket.compose([results_part(output, i) for i in range(chunks)], results_path(output), RESULTS_HEADER)
    bucket.compose([errors_part(output, i) for i in range(error_chunks)], errors_path(output), ERRORS_HEADER)
    prefix = bucket.uri_prefix
    manifest: dict[str, Any] = {
        "job_id": job_id,
        "input": raw.get("uri"),
        "model_version": raw.get("model_version"),
        "rows_predicted": int(raw.get("rows_done", 0)),
        "rows_failed": int(raw.get("rows_failed", 0)),
        "results": prefix + results_path(output),
        "errors": prefix + errors_path(output),
        "finished_at": datetime.now(UTC).isoformat(),
    }
    bucket.write(manifest_path(output), msgspec.json.encode(manifest))
    for index in range(chunks):
        bucket.delete(results_part(output, index))
    for index in range(error_chunks):
        bucket.delete(errors_part(output, index))
    progress.update(
        job_id,
        status="done",
        finished_at=repr(datetime.now(UTC).timestamp()),
        results_uri=manifest["results"],
        errors_uri=manifest["errors"],
        manifest_uri=prefix + manifest_path(output),
    )
    return True
