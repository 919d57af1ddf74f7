"""The Redis read model the APIs serve from. Postgres stays the source of truth; ``rebuild`` refills it.

Keys (all under the configured prefix):

* ``batch:<id>``: hash with ``body`` (the batch view as JSON), ``rank`` (when it was predicted) and,
  for explanations on demand, ``features`` (the rows as JSON) and ``explainer`` (the model's scaler
  and weights); expires after the configured TTL.
* ``batches``: sorted set of batch ids by submission time, trimmed to the newest N, for listing.
* ``model:current``: hash, the production model (newest event wins).
* ``jobs`` / ``jobs:data`` / ``jobs:rank``: sorted set, hash and rank of recent training jobs (queued,
  running, covered, promoted, rejected, failed), trimmed; a job keeps its highest-ranked state.
* ``models`` / ``models:data``: sorted set and hash of model versions with their metrics and decisions.
* ``performance:<version>``: hash, a model version's live performance (the highest revision wins).
* ``drift:<version>``: hash, a model version's input drift figures (the highest revision wins).
* ``training-rows``: hash, the training table's counts and quarantined rows at the newest training.
* ``training-labels:<batch id>`` / ``training-labels:<batch id>:rank``: hashes by subject, the label each
  rated record of the batch gave the training data and when it was rated (the newest rating wins);
  expire with the batch.
* ``deadletters`` / ``deadletters:data``: sorted set and hash of the dead letters waiting for an operator.
* ``deliveries:<batch id>``: hash, the batch's completion webhooks and their attempts (the newest
  revision wins); expires after the configured TTL.

A batch whose prediction request was dead-lettered is stored as ``failed`` with the rank
``FAILED_RANK``, above any prediction's: a prediction always replaces it, a failure never replaces a
prediction, and a replay removes the failure only (the batch is pending again until it is predicted).

What each key holds is a view typed in ``svmflow.views``, stored as its JSON: the APIs serve it as
it is, or decode it to that type.

Every write is keyed and conditional, so replaying an event leaves the cache exactly as it was, and two
events for the same key converge to the same winner whatever order they arrive in.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import msgspec
import redis

from svmflow.domain.drift_windows import DriftView
from svmflow.domain.performance import VersionPerformance
from svmflow.views import (
    BatchDeliveries,
    BatchFailed,
    BatchResult,
    BatchSummary,
    BatchView,
    CurrentModelView,
    DeadLetterView,
    ExplanationInputs,
    JobView,
    ModelVersionView,
    TrainingLabel,
    TrainingRowsView,
)

if TYPE_CHECKING:
    from redis.typing import ZSetRangeResponse, ZSetScoredMembers

# The views are defined in svmflow.views; these names stay importable from here for the projectors.
__all__ = [
    "FAILED_RANK",
    "BatchFailed",
    "BatchResult",
    "BatchSummary",
    "BatchView",
    "DeadLetterView",
    "ExplanationInputs",
    "ReadModel",
    "TrainingLabel",
    "batch_status",
    "epoch_micros",
]

V = TypeVar("V", bound=msgspec.Struct)

# Built once, while the module is imported by one thread: msgspec resolves a Struct's nested types on
# first use, and the APIs read from a thread pool.
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {
    view: msgspec.json.Decoder(view)
    for view in (
        BatchView,
        BatchFailed,
        CurrentModelView,
        DeadLetterView,
        JobView,
        ModelVersionView,
        TrainingLabel,
        TrainingRowsView,
    )
}


def _decode(body: bytes | str, view: type[V]) -> V:
    decoded: V = _DECODERS[view].decode(body)
    return decoded


# Keep the entry whose rank wins (lower for batches: the first prediction of a batch is the one kept;
# higher for the current model: the newest decision is the one kept).
_SET_IF_BETTER = """
local current = redis.call('HGET', KEYS[1], 'rank')
local incoming = tonumber(ARGV[1])
local better = (not current)
    or (ARGV[3] == 'lower' and incoming < tonumber(current))
    or (ARGV[3] == 'higher' and incoming > tonumber(current))
if better then
    redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'body', ARGV[2])
    -- Further fields (name, value pairs) travel with the body: the winner's, never a mix.
    for i = 5, #ARGV, 2 do
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
    end
end
if tonumber(ARGV[4]) > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[4])
end
if better then return 1 end
return 0
"""


# A job's entry is replaced only by an event that ranks at least as high (contracts.decision_rank).
_PUT_JOB = """
local current = redis.call('HGET', KEYS[3], ARGV[1])
if current and tonumber(current) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[3])
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[1])
return 1
"""


# Per subject, keep the newest rating's entry: ARGV is (subject, rank, body) triples, then the TTL.
_PUT_TRAINING_LABELS = """
for i = 1, #ARGV - 1, 3 do
    local current = redis.call('HGET', KEYS[2], ARGV[i])
    if (not current) or tonumber(current) < tonumber(ARGV[i + 1]) then
        redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
        redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
    end
end
if tonumber(ARGV[#ARGV]) > 0 then
    redis.call('EXPIRE', KEYS[1], ARGV[#ARGV])
    redis.call('EXPIRE', KEYS[2], ARGV[#ARGV])
end
return 1
"""


# Above any prediction's rank (microseconds since 1970, below 4e15 until 2096) and below 2**53.
FAILED_RANK = 8_000_000_000_000_000

# Store a failure unless the batch has a prediction (a rank other than the failure's).
_FAIL_BATCH = """
local current = redis.call('HGET', KEYS[1], 'rank')
if current and tonumber(current) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'rank', ARGV[1], 'body', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('ZADD', KEYS[2], 'NX', ARGV[4], ARGV[5])
return 1
"""

# Remove a failure, never a prediction.
_CLEAR_FAILED = """
local current = redis.call('HGET', KEYS[1], 'rank')
if current and tonumber(current) == tonumber(ARGV[1]) then
    redis.call('DEL', KEYS[1])
    return 1
end
return 0
"""


class _Status(msgspec.Struct):
    status: str


def epoch_micros(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class ReadModel:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "svmflow:",
        *,
        ttl_seconds: int = 7 * 24 * 3600,
        index_size: int = 10_000,
        jobs_size: int = 200,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.index_size = index_size
        self.jobs_size = jobs_size
        self._set_if_better = client.register_script(_SET_IF_BETTER)
        self._put_job = client.register_script(_PUT_JOB)
        self._fail_batch = client.register_script(_FAIL_BATCH)
        self._clear_failed = client.register_script(_CLEAR_FAILED)
        self._put_training_labels = client.register_script(_PUT_TRAINING_LABELS)

    def _key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def ping(self) -> bool:
        return bool(self.client.ping())

    # -- batches -----------------------------------------------------------------------------

    def put_batch(self, view: BatchView, explanation: ExplanationInputs | None = None) -> bool:
        """Store a batch's results; the earliest prediction of a batch wins. True if stored.

        ``explanation`` (the features as JSON and the model's explainer) is kept beside the body, not
        in it, so a plain poll reads and serves exactly what it did before."""
        body = msgspec.json.encode(view)
        key = self._key("batch", view.batch_id)
        extra: list[bytes | str] = []
        if explanation is not None:
            extra = ["features", explanation.features, "explainer", explanation.explainer]
        args = [epoch_micros(view.predicted_at), body, "lower", self.ttl_seconds, *extra]
        try:
            return self._put_batch_pipelined(view, key, args)
        except redis.exceptions.NoScriptError:
            # Redis restarted or its scripts were flushed: load it again (every write here is
            # idempotent, so running the pipeline twice is safe).
            self.client.script_load(_SET_IF_BETTER)
            return self._put_batch_pipelined(view, key, args)

    def _put_batch_pipelined(self, view: BatchView, key: str, args: list[Any]) -> bool:
        """The conditional write and the index update in one round trip (a registered script called
        inside a pipeline would cost another, to check that the script is loaded)."""
        pipe = self.client.pipeline(transaction=True)
        pipe.evalsha(self._set_if_better.sha, 1, key, *args)
        # NX: the first submission time stays, even if a later redelivery carries another.
        pipe.zadd(self._key("batches"), {view.batch_id: view.submitted_at.timestamp()}, nx=True)
        pipe.zremrangebyrank(self._key("batches"), 0, -self.index_size - 1)
        stored, *_ = pipe.execute()
        return bool(stored)

    def get_batch(self, batch_id: str) -> BatchView | None:
        """The batch's results; None while it is pending or failed."""
        body = self.get_batch_json(batch_id)
        if body is None or batch_status(body) == "failed":
            return None
        return _decode(body, BatchView)

    def get_failure(self, batch_id: str) -> BatchFailed | None:
        body = self.get_batch_json(batch_id)
        if body is None or batch_status(body) != "failed":
            return None
        return _decode(body, BatchFailed)

    def fail_batch(self, failure: BatchFailed) -> bool:
        """Mark a batch failed unless it has a prediction. True if stored."""
        submitted = failure.submitted_at or failure.failed_at
        return bool(
            self._fail_batch(
                keys=[self._key("batch", failure.batch_id), self._key("batches")],
                args=[
                    FAILED_RANK,
                    msgspec.json.encode(failure),
                    self.ttl_seconds,
                    submitted.timestamp(),
                    failure.batch_id,
                ],
            )
        )

    def clear_failure(self, batch_id: str) -> bool:
        """The batch is pending again (its request was replayed); a prediction is never removed."""
        return bool(self._clear_failed(keys=[self._key("batch", batch_id)], args=[FAILED_RANK]))

    def batch_statuses(self, batch_ids: list[str]) -> list[str]:
        """pending, done or failed for each batch, in one round trip."""
        pipe = self.client.pipeline(transaction=False)
        for batch_id in batch_ids:
            pipe.hget(self._key("batch", batch_id), "rank")
        ranks = pipe.execute()
        return [
            "pending" if rank is None else "failed" if int(float(rank)) == FAILED_RANK else "done"
            for rank in ranks
        ]

    def get_batch_json(self, batch_id: str) -> bytes | None:
        """The batch view as stored: JSON ready to serve, with no decode and re-encode per poll."""
        return _blob(self.client.hget(self._key("batch", batch_id), "body"))

    def get_batch_for_explanation(self, batch_id: str) -> tuple[bytes | None, ExplanationInputs | None]:
        """The stored body and, when they were stored with it, the inputs an explanation needs."""
        body, features, explainer = map(
            _blob, self.client.hmget(self._key("batch", batch_id), ["body", "features", "explainer"])
        )
        if body is None or features is None or explainer is None:
            return body, None
        return body, ExplanationInputs(features=features, explainer=explainer)

    def list_batches(self, limit: int, before: float | None = None) -> list[BatchSummary]:
        """Newest first; ``before`` is the submission time of the last item of the previous page."""
        maximum: float | str = "+inf" if before is None else f"({before}"
        rows = self.client.zrevrangebyscore(
            self._key("batches"), maximum, "-inf", start=0, num=limit, withscores=True
        )
        return [BatchSummary(batch_id=member, submitted_at=score) for member, score in _scored(rows)]

    def page_batches(self, limit: int, after: tuple[float, str] | None = None) -> list[BatchSummary]:
        """Newest first, ties in time broken by id (descending), as Redis orders them. ``after`` is the
        (submitted_at, batch_id) of the previous page's last item, so a page boundary that falls inside
        a tie neither skips nor repeats a batch."""
        if after is None:
            return self.list_batches(limit)
        score, last_id = after
        # Batches submitted in the same microsecond as the cursor: few, so fetch them all.
        ties = self.client.zrangebyscore(self._key("batches"), score, score)
        same = sorted((m for m in map(_text, _members(ties)) if m < last_id), reverse=True)
        page = [BatchSummary(batch_id=m, submitted_at=score) for m in same[:limit]]
        if len(page) < limit:
            page.extend(self.list_batches(limit - len(page), before=score))
        return page

    # -- models and jobs ---------------------------------------------------------------------

    def put_current_model(self, model: CurrentModelView, decided_at: datetime) -> bool:
        return bool(
            self._set_if_better(
                keys=[self._key("model", "current")],
                args=[epoch_micros(decided_at), msgspec.json.encode(model), "higher", 0],
            )
        )

    def current_model(self) -> CurrentModelView | None:
        body = self.current_model_json()
        return None if body is None else _decode(body, CurrentModelView)

    def current_model_json(self) -> bytes | None:
        """The current model's view as stored, to serve as it is."""
        return _blob(self.client.hget(self._key("model", "current"), "body"))

    def put_job(self, job: JobView, rank: int) -> bool:
        """Keep the job's highest-ranked state; listed by the time of its latest state. True if stored."""
        stored = self._put_job(
            keys=[self._key("jobs"), self._key("jobs", "data"), self._key("jobs", "rank")],
            args=[job.job_id, msgspec.json.encode(job), rank, job.finished_at.timestamp()],
        )
        self._trim("jobs", self.jobs_size, also=self._key("jobs", "rank"))
        return bool(stored)

    def jobs(self, limit: int = 50) -> list[JobView]:
        return [_decode(body, JobView) for body in self.jobs_json(limit)]

    def jobs_json(self, limit: int = 50) -> list[bytes]:
        """The newest jobs' views as stored, newest first."""
        return self._ranked("jobs", limit)

    def put_model_version(self, entry: ModelVersionView, created_at: datetime) -> None:
        self._put_ranked("models", entry.version, entry, created_at.timestamp(), self.jobs_size)

    def model_versions(self, limit: int = 50) -> list[ModelVersionView]:
        return [_decode(body, ModelVersionView) for body in self.model_versions_json(limit)]

    def model_versions_json(self, limit: int = 50) -> list[bytes]:
        """The newest model versions' views as stored, newest first."""
        return self._ranked("models", limit)

    def model_version(self, version: str) -> ModelVersionView | None:
        body = self.client.hget(self._key("models", "data"), version)
        return None if body is None else _decode(body, ModelVersionView)

    def put_performance(self, figures: VersionPerformance) -> bool:
        return bool(
            self._set_if_better(
                keys=[self._key("performance", figures.model_version)],
                args=[figures.revision, msgspec.json.encode(figures), "higher", 0],
            )
        )

    def performance_json(self, version: str) -> bytes | None:
        return _blob(self.client.hget(self._key("performance", version), "body"))

    def put_drift(self, view: DriftView) -> bool:
        return bool(
            self._set_if_better(
                keys=[self._key("drift", view.model_version)],
                args=[view.revision, msgspec.json.encode(view), "higher", 0],
            )
        )

    def drift_json(self, version: str) -> bytes | None:
        return _blob(self.client.hget(self._key("drift", version), "body"))

    def put_training_rows(self, rows: TrainingRowsView, decided_at: datetime) -> bool:
        """The training table's counts and quarantined rows as of the newest training."""
        return bool(
            self._set_if_better(
                keys=[self._key("training-rows")],
                args=[epoch_micros(decided_at), msgspec.json.encode(rows), "higher", 0],
            )
        )

    def training_rows(self) -> TrainingRowsView | None:
        body = self.client.hget(self._key("training-rows"), "body")
        return None if body is None else _decode(body, TrainingRowsView)

    def put_training_labels(self, batch_id: str, labels: list[TrainingLabel]) -> None:
        """Record that these ratings of a batch reached the training data; a redelivery changes
        nothing and an older rating arriving late does not replace a newer one."""
        if not labels:
            return
        args: list[Any] = []
        for entry in labels:
            args += [entry.subject, epoch_micros(entry.rated_at), msgspec.json.encode(entry)]
        key = self._key("training-labels", batch_id)
        self._put_training_labels(keys=[key, f"{key}:rank"], args=[*args, self.ttl_seconds])

    def training_labels(self, batch_id: str) -> list[TrainingLabel]:
        """The batch's rated records whose labels are in the training data, by subject."""
        bodies = self.client.hgetall(self._key("training-labels", batch_id))
        entries = [_decode(body, TrainingLabel) for body in bodies.values()]
        return sorted(entries, key=lambda entry: entry.subject)

    def _put_ranked(self, name: str, key: str, entry: msgspec.Struct, score: float, keep: int) -> None:
        index, data = self._key(name), self._key(name, "data")
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(data, key, msgspec.json.encode(entry))
        pipe.zadd(index, {key: score})
        pipe.execute()
        self._trim(name, keep)

    def _trim(self, name: str, keep: int, also: str | None = None) -> None:
        index, data = self._key(name), self._key(name, "data")
        overflow = self.client.zrange(index, 0, -keep - 1)
        if overflow:
            pipe = self.client.pipeline(transaction=True)
            pipe.zrem(index, *overflow)
            pipe.hdel(data, *overflow)
            if also:
                pipe.hdel(also, *overflow)
            pipe.execute()

    def _ranked(self, name: str, limit: int) -> list[bytes]:
        keys = self.client.zrevrange(self._key(name), 0, limit - 1)
        if not keys:
            return []
        bodies = map(_blob, self.client.hmget(self._key(name, "data"), _members(keys)))
        return [body for body in bodies if body is not None]

    # -- dead letters ------------------------------------------------------------------------

    def put_dead_letter(self, letter: DeadLetterView) -> None:
        self._put_ranked(
            "deadletters",
            letter.message_id,
            letter,
            letter.dead_lettered_at.timestamp(),
            self.index_size,
        )

    def dead_letter(self, message_id: str) -> DeadLetterView | None:
        body = self.client.hget(self._key("deadletters", "data"), message_id)
        return None if body is None else _decode(body, DeadLetterView)

    def dead_letters(self, limit: int = 50) -> list[DeadLetterView]:
        return [_decode(body, DeadLetterView) for body in self._ranked("deadletters", limit)]

    def remove_dead_letter(self, message_id: str) -> None:
        pipe = self.client.pipeline(transaction=True)
        pipe.zrem(self._key("deadletters"), message_id)
        pipe.hdel(self._key("deadletters", "data"), message_id)
        pipe.execute()

    # -- completion webhooks -----------------------------------------------------------------

    def put_deliveries(self, view: BatchDeliveries, revision: int) -> bool:
        """A batch's deliveries as of ``revision`` (a newer one is never replaced by an older)."""
        return bool(
            self._set_if_better(
                keys=[self._key("deliveries", view.batch_id)],
                args=[revision, msgspec.json.encode(view), "higher", self.ttl_seconds],
            )
        )

    def deliveries_json(self, batch_id: str) -> bytes | None:
        return _blob(self.client.hget(self._key("deliveries", batch_id), "body"))

    def clear(self) -> None:
        cursor = 0
        while True:
            cursor, keys = self.client.scan(cursor, match=f"{self.prefix}*", count=500)
            if keys:
                self.client.delete(*keys)
            if cursor == 0:
                return


def batch_status(body: bytes) -> str:
    """A stored batch's status without decoding its results."""
    return msgspec.json.decode(body, type=_Status).status


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# redis-py types each reply for either `decode_responses` setting (bytes | str), and every sorted-set
# range as one union whatever `withscores` says. These narrow a reply to what this client gets.


def _blob(value: bytes | str | None) -> bytes | None:
    """A stored value as the bytes it was written as (a client that decodes responses gives str)."""
    return value.encode() if isinstance(value, str) else value


def _members(reply: ZSetRangeResponse) -> list[bytes | str]:
    """A range read without scores: the members."""
    return cast("list[bytes | str]", reply)


def _scored(reply: ZSetRangeResponse) -> list[tuple[str, float]]:
    """A range read ``withscores=True``: each member with its score."""
    return [(_text(member), score) for member, score in cast("ZSetScoredMembers", reply)]
