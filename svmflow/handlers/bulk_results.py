"""bulk-results: write a bulk chunk's results next to the input file and count it; after the last
chunk, assemble the result file, the error file and the manifest."""

from __future__ import annotations

from svmflow.bulk import output
from svmflow.bulk.progress import BulkProgressStore
from svmflow.contracts import BulkPredictions
from svmflow.messaging import EventContext
from svmflow.ports import BlobStore


def handle(
    message: BulkPredictions, context: EventContext, *, bucket: BlobStore, progress: BulkProgressStore
) -> None:
    """Idempotent: the part is written under the chunk's own name (a redelivery rewrites the same
    bytes) before the chunk is counted, and it is counted once."""
    if progress.raw(message.job_id).get("status") == "done":
        return
    part = output.encode_results(message.lines, message.ids, message.labels, message.scores)
    bucket.write(output.results_part(message.output, message.chunk), part)
    progress.chunk_done(message.job_id, message.chunk, len(message.lines))
    output.finish_if_complete(message.job_id, bucket, progress)
