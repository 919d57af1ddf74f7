"""Bulk prediction over a CSV or JSON-lines file in the bucket.

The ingest API checks the file's head and publishes a ``BulkRequest``; ``bulk_split`` streams the file
and publishes chunks of rows on ``prediction-requests`` (so the prediction path, its idempotency and its
dead letters apply unchanged), pinned to the model in production when the split began; the prediction
function answers a chunk on ``bulk-predictions``; ``bulk_results`` writes each chunk's results next to
the input, counts progress in Redis and, after the last chunk, assembles the result file, the error
file and a manifest that records the model version.
"""
