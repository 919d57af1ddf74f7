"""bulk-split: stream a bulk file from the bucket and publish its rows, in chunks, for prediction.

One model version for the whole file: the production version when the split starts, recorded in Redis
before the first chunk, so a split resumed after a crash keeps it. Chunks are published on
prediction-requests, so idempotency, retries and dead letters are those of every batch. Bad lines are
written to error parts as they are found; they never stop the rest of the file.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import BinaryIO

from svmflow import topology
from svmflow.bulk import output
from svmflow.bulk.files import BadRow, BulkFileError, Row, read_rows
from svmflow.bulk.progress import BulkProgressStore
from svmflow.contracts import MAX_ROWS, BulkChunk, BulkRequest, PredictionRequest
from svmflow.errors import TransientError
from svmflow.messaging import EventContext, publish
from svmflow.model_registry import ModelRegistry, Pointer
from svmflow.ports import BlobStore, Publisher


@dataclass
class _Chunker:
    request: BulkRequest
    version: str
    sha256: str
    publisher: Publisher
    bucket: BlobStore
    traceparent: str | None
    chunk_rows: int
    rows: list[Row] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    chunks: int = 0
    error_parts: int = 0
    rows_read: int = 0
    rows_failed: int = 0

    def add(self, item: Row | BadRow) -> bool:
        """True when a chunk was published (a moment to report progress)."""
        if isinstance(item, BadRow):
            self.bad.append(item)
            self.rows_failed += 1
            if len(self.bad) >= MAX_ROWS:
                self.flush_errors()
            return False
        self.rows.append(item)
        self.rows_read += 1
        if len(self.rows) >= self.chunk_rows:
            self.flush()
            return True
        return False

    def flush_errors(self) -> None:
        if self.bad:
            path = output.errors_part(self.request.output, self.error_parts)
            self.bucket.write(path, output.encode_errors(self.bad))
            self.error_parts += 1
            self.bad = []

    def flush(self) -> None:
        self.flush_errors()
        if not self.rows:
            return
        rows, self.rows = self.rows, []
        ids = [r.subject or "" for r in rows] if any(r.subject is not None for r in rows) else None
        chunk = BulkChunk(
            job_id=self.request.job_id,
            chunk=self.chunks,
            output=self.request.output,
            model_version=self.version,
            model_sha256=self.sha256,
            ids=ids,
        )
        message = PredictionRequest(
            batch_id=f"{self.request.job_id}.{self.chunks}",
            subjects=[str(r.line) for r in rows],
            features=[r.features for r in rows],
            submitted_at=self.request.submitted_at,
            bulk=chunk,
        )
        publish(
            self.publisher,
            topology.PREDICTION_REQUESTS,
            message,
            batch_id=message.batch_id,
            traceparent=self.traceparent,
        )
        self.chunks += 1


def handle(
    request: BulkRequest,
    context: EventContext,
    *,
    bucket: BlobStore,
    registry: ModelRegistry,
    publisher: Publisher,
    progress: BulkProgressStore,
    chunk_rows: int = MAX_ROWS,
) -> None:
    """Idempotent: a redelivery after the split finished does nothing; one during or after a crash
    splits again, publishing the same chunks (same ids, same rows), which the sinks count once."""
    if _already_split(progress, request.job_id):
        return
    pointer, _ = registry.pointer()
    if pointer is None:
        raise TransientError("no model in production yet")
    stream = bucket.open(request.path)
    if stream is None:
        # It was there when the API checked; gone now. Nothing to retry: say so in the job.
        progress.update(
            request.job_id, uri=request.uri, status="failed", error=f"{request.uri} no longer exists"
        )
        return
    version, sha256 = _pin_model(request, pointer, bucket, progress)
    model = registry.load(version, expected_sha256=sha256)
    chunker = _Chunker(
        request, version, sha256, publisher, bucket, context.traceparent, chunk_rows=chunk_rows
    )
    counted = _CountingReader(stream)
    try:
        with stream:
            rows = read_rows(io.BufferedReader(counted, 1024 * 1024), request.format, model.n_features)
            _publish_rows(rows, chunker, counted, progress)
    except BulkFileError as exc:
        progress.update_unfinished(request.job_id, status="failed", error=str(exc))
        return
    _record_split(chunker, counted, progress)
    # Every chunk may already be in (or there were none): then nobody else would finish the job.
    output.finish_if_complete(request.job_id, bucket, progress)


def _already_split(progress: BulkProgressStore, job_id: str) -> bool:
    known = progress.raw(job_id)
    return "split_at" in known or known.get("status") in ("done", "failed")


def _pin_model(
    request: BulkRequest, pointer: Pointer, bucket: BlobStore, progress: BulkProgressStore
) -> tuple[str, str]:
    """The model version of the whole file: the one a split before a crash recorded, else production's."""
    version, sha256 = progress.start(
        request.job_id,
        uri=request.uri,
        model_version=pointer.version,
        model_sha256=pointer.sha256,
        bytes_total=bucket.size(request.path) or 0,
    )
    progress.update(request.job_id, output=request.output)
    return version, sha256


def _publish_rows(
    rows: Iterator[Row | BadRow], chunker: _Chunker, counted: _CountingReader, progress: BulkProgressStore
) -> None:
    """Publish the file's rows chunk by chunk, reporting progress after each chunk."""
    for item in rows:
        if chunker.add(item):
            progress.update_unfinished(
                chunker.request.job_id,
                rows_read=chunker.rows_read,
                rows_failed=chunker.rows_failed,
                bytes_read=counted.position,
            )


def _record_split(chunker: _Chunker, counted: _CountingReader, progress: BulkProgressStore) -> None:
    """Publish the last chunk and error part, then record the totals and that the split is done."""
    chunker.flush()
    chunker.flush_errors()
    progress.update_unfinished(
        chunker.request.job_id,
        status="running",
        rows_read=chunker.rows_read,
        rows_failed=chunker.rows_failed,
        rows_total=chunker.rows_read,  # rows to predict; bad lines are counted apart
        bytes_read=counted.position,
        chunks_total=chunker.chunks,
        error_parts=chunker.error_parts,
        split_at=repr(datetime.now(UTC).timestamp()),
    )


class _CountingReader(io.RawIOBase):
    """Counts the bytes read, for progress by share of the file while the rows are not yet counted."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.position = 0

    def readable(self) -> bool:
        return True

    # io passes a memoryview; typeshed's parameter type (any writable buffer) has no len or slicing.
    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        size = len(data)
        buffer[:size] = data
        self.position += size
        return size
