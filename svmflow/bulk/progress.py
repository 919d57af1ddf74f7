"""A bulk job's progress in Redis: written by the bulk functions, read by the predict API.

``bulk:<job>`` is a hash of counters and facts; ``bulk:<job>:chunks`` the set of finished chunks, so a
redelivered chunk is counted once. Rate and ETA are computed when read, from the counters and the
time the job started.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import msgspec
import redis

if TYPE_CHECKING:
    from redis.typing import EncodableT, FieldT

# HSETNX-like for several fields, then a conditional count: one round trip per chunk, atomic.
_CHUNK_DONE = """
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'rows_done', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
return 1
"""

# The last word on a job is "done" or "failed": a late writer (a duplicate split finishing after the
# first one, say) must not turn it back into "running".
_UPDATE_UNFINISHED = """
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'done' or status == 'failed' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_INT_FIELDS = (
    "bytes_total",
    "bytes_read",
    "rows_read",
    "rows_failed",
    "rows_total",
    "chunks_total",
    "chunks_done",
    "rows_done",
)
_FLOAT_FIELDS = ("started_at", "updated_at", "split_at", "finished_at")


class BulkView(msgspec.Struct, kw_only=True, omit_defaults=True):
    """What ``GET /v1/jobs/bulk/{id}`` answers."""

    job_id: str
    status: str  # queued, splitting, running, done, failed
    uri: str = ""
    model_version: str | None = None
    rows_read: int = 0
    rows_total: int | None = None
    rows_done: int = 0
    rows_failed: int = 0
    chunks_total: int | None = None
    chunks_done: int = 0
    bytes_read: int = 0
    bytes_total: int | None = None
    rows_per_second: float | None = None
    eta_seconds: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    results_uri: str | None = None
    errors_uri: str | None = None
    manifest_uri: str | None = None
    error: str | None = None


class BulkProgressStore:
    def __init__(
        self, client: redis.Redis, prefix: str = "svmflow:", ttl_seconds: int = 7 * 24 * 3600
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._chunk_done = client.register_script(_CHUNK_DONE)
        self._update_unfinished = client.register_script(_UPDATE_UNFINISHED)

    def _key(self, job_id: str) -> str:
        return f"{self.prefix}bulk:{job_id}"

    def raw(self, job_id: str) -> dict[str, str]:
        stored = self.client.hgetall(self._key(job_id))
        return {_text(k): _text(v) for k, v in stored.items()}

    def update(self, job_id: str, **fields: Any) -> None:
        # Typed as hset takes it: a Mapping is invariant in its keys, so dict[str, str] would not do.
        values: dict[FieldT, EncodableT] = {k: str(v) for k, v in fields.items() if v is not None}
        values["updated_at"] = repr(time.time())
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(self._key(job_id), mapping=values)
        pipe.expire(self._key(job_id), self.ttl_seconds)
        pipe.execute()

    def update_unfinished(self, job_id: str, **fields: Any) -> bool:
        """``update``, unless the job is already done or failed. True if written."""
        values = {k: str(v) for k, v in fields.items() if v is not None}
        values["updated_at"] = repr(time.time())
        flat = [item for pair in values.items() for item in pair]
        return bool(self._update_unfinished(keys=[self._key(job_id)], args=[self.ttl_seconds, *flat]))

    def start(
        self, job_id: str, *, uri: str, model_version: str, model_sha256: str, bytes_total: int
    ) -> tuple[str, str]:
        """Record the job's start; the first split's model version stays, so a resumed split (after a
        crash) keeps one version for the whole file. Returns the version to use."""
        key = self._key(job_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.hsetnx(key, "model_version", model_version)
        pipe.hsetnx(key, "model_sha256", model_sha256)
        pipe.hsetnx(key, "started_at", repr(time.time()))
        pipe.hset(key, mapping={"uri": uri, "bytes_total": bytes_total})
        pipe.hsetnx(key, "status", "splitting")
        pipe.expire(key, self.ttl_seconds)
        pipe.hget(key, "model_version")
        pipe.hget(key, "model_sha256")
        *_, version, sha = pipe.execute()
        return _text(version), _text(sha)

    def chunk_done(self, job_id: str, chunk: int, rows: int) -> bool:
        """Count a chunk once, however often it is delivered. True the first time."""
        return bool(
            self._chunk_done(
                keys=[self._key(job_id), self._key(job_id) + ":chunks"],
                args=[chunk, rows, repr(time.time()), self.ttl_seconds],
            )
        )

    def view(self, job_id: str, now: float | None = None) -> BulkView | None:
        raw = self.raw(job_id)
        if not raw:
            return None
        values: dict[str, Any] = {}
        for name in _INT_FIELDS:
            if name in raw:
                values[name] = int(raw[name])
        for name in _FLOAT_FIELDS:
            if name in raw:
                values[name] = float(raw[name])
        view = BulkView(
            job_id=job_id,
            status=raw.get("status", "queued"),
            uri=raw.get("uri", ""),
            model_version=raw.get("model_version"),
            rows_read=values.get("rows_read", 0),
            rows_total=values.get("rows_total"),
            rows_done=values.get("rows_done", 0),
            rows_failed=values.get("rows_failed", 0),
            chunks_total=values.get("chunks_total"),
            chunks_done=values.get("chunks_done", 0),
            bytes_read=values.get("bytes_read", 0),
            bytes_total=values.get("bytes_total"),
            started_at=values.get("started_at"),
            finished_at=values.get("finished_at"),
            results_uri=raw.get("results_uri"),
            errors_uri=raw.get("errors_uri"),
            manifest_uri=raw.get("manifest_uri"),
            error=raw.get("error"),
        )
        return _with_rate(view, time.time() if now is None else now)


def _with_rate(view: BulkView, now: float) -> BulkView:
    if view.started_at is None:
        return view
    end = view.finished_at or now
    elapsed = max(end - view.started_at, 1e-6)
    view.rows_per_second = round(view.rows_done / elapsed, 1)
    if view.status in ("done", "failed"):
        view.eta_seconds = 0.0 if view.status == "done" else None
        return view
    total = view.rows_total
    if total is None and view.bytes_read and view.bytes_total:
        # Still splitting: estimate the rows from the share of the file read so far.
        total = int(view.rows_read * view.bytes_total / view.bytes_read)
    if total is not None and view.rows_done > 0:
        view.eta_seconds = round(max(total - view.rows_done, 0) / (view.rows_done / elapsed), 1)
    return view


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
