"""The asyncio client: the same methods as ``Client``, awaited."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

import httpx2

from svmflow.client import _base
from svmflow.client.batching import Batch, batches
from svmflow.client.errors import ServiceUnreachableError, WaitTimeoutError
from svmflow.client.retry import RETRY_STATUSES, PollSchedule, RetryPolicy
from svmflow.client.types import (
    Accepted,
    BatchResult,
    BulkAccepted,
    BulkProgress,
    CurrentModel,
    FeedbackAccepted,
    Job,
    ModelVersion,
    Prediction,
)
from svmflow.contracts import MAX_ROWS


class AsyncClient:
    """``async with AsyncClient() as client: await client.submit(rows)``."""

    def __init__(
        self,
        ingest_url: str = _base.DEFAULT_INGEST_URL,
        predict_url: str = _base.DEFAULT_PREDICT_URL,
        api_key: str = _base.DEFAULT_API_KEY,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        polling: PollSchedule | None = None,
        batch_rows: int = MAX_ROWS,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = _base.Settings(
            ingest_url,
            predict_url,
            api_key,
            timeout,
            retry or RetryPolicy(),
            polling or PollSchedule(),
        )
        self._sleep = sleep
        self.batch_rows = batch_rows
        self._http = httpx2.AsyncClient(headers=self.settings.headers(), timeout=timeout, transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self, method: str, url: str, *, ok: Iterable[int] = (200,), **kwargs: Any
    ) -> tuple[int, Any, httpx2.Headers]:
        policy = self.settings.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx2.TransportError as exc:
                if attempt == policy.attempts:
                    raise ServiceUnreachableError(f"{method} {url}: {exc!r} after {attempt} tries") from exc
                await self._sleep(policy.delay(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < policy.attempts:
                await self._sleep(policy.delay(attempt, response.headers.get("retry-after")))
                continue
            body = _base.raise_for_problem(response, ok)
            return response.status_code, body, response.headers
        raise AssertionError("unreachable")

    # -- batches -----------------------------------------------------------------------------

    async def submit_batch(self, batch: Batch, idempotency_key: str) -> Accepted:
        _, body, _ = await self._request(
            "POST",
            self.settings.ingest("/v1/batches"),
            ok=(202,),
            content=batch.body(),
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        )
        return _base.convert(body, Accepted)

    async def submit(
        self,
        rows: Iterable[Sequence[float]],
        subjects: Iterable[str] | None = None,
        *,
        idempotency_key: str | None = None,
        concurrency: int = 4,
    ) -> list[Accepted]:
        """Like ``Client.submit``, with up to ``concurrency`` batches on the wire at once."""
        prefix = idempotency_key or _base.new_key_prefix()
        gate = asyncio.Semaphore(concurrency)

        async def send(index: int, batch: Batch) -> Accepted:
            async with gate:
                return await self.submit_batch(batch, f"{prefix}-{index}")

        return list(
            await asyncio.gather(
                *(send(i, b) for i, b in enumerate(batches(rows, subjects, max_rows=self.batch_rows)))
            )
        )

    async def poll(self, batch_id: str) -> BatchResult | None:
        status, body, _ = await self._request(
            "GET", self.settings.predict(_base.batch_path(batch_id)), ok=(200, 202)
        )
        return _base.convert(body, BatchResult) if status == 200 else None

    async def wait(self, batch_id: str, timeout: float = 120.0) -> BatchResult:
        deadline = time.monotonic() + timeout
        polls = 0
        while True:
            status, body, headers = await self._request(
                "GET", self.settings.predict(_base.batch_path(batch_id)), ok=(200, 202)
            )
            if status == 200:
                return _base.convert(body, BatchResult)
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(f"batch {batch_id} still pending after {timeout:g} s")
            await self._sleep(min(left, self.settings.polling.interval(polls, headers.get("retry-after"))))
            polls += 1

    async def results(self, batch_ids: Iterable[str | Accepted], timeout: float = 120.0) -> list[BatchResult]:
        """Waits for all of them at once."""
        return list(await asyncio.gather(*(self.wait(_base.batch_id_of(b), timeout) for b in batch_ids)))

    async def iter_predictions(
        self,
        rows: Iterable[Sequence[float]],
        subjects: Iterable[str] | None = None,
        *,
        in_flight: int = 4,
        timeout: float = 120.0,
        idempotency_key: str | None = None,
    ) -> AsyncIterator[Prediction]:
        prefix = idempotency_key or _base.new_key_prefix()
        pending: collections.deque[str] = collections.deque()
        for index, batch in enumerate(batches(rows, subjects, max_rows=self.batch_rows)):
            pending.append((await self.submit_batch(batch, f"{prefix}-{index}")).batch_id)
            if len(pending) > in_flight:
                for prediction in (await self.wait(pending.popleft(), timeout)).results:
                    yield prediction
        while pending:
            for prediction in (await self.wait(pending.popleft(), timeout)).results:
                yield prediction

    # -- feedback ----------------------------------------------------------------------------

    async def rate(self, batch_id: str, ratings: Mapping[str, int]) -> FeedbackAccepted:
        body = {"subjects": list(ratings), "ratings": [int(r) for r in ratings.values()]}
        _, answer, _ = await self._request(
            "PATCH", self.settings.predict(_base.batch_path(batch_id)), ok=(202,), json=body
        )
        return _base.convert(answer, FeedbackAccepted)

    async def label(self, batch_id: str, classes: Mapping[str, str]) -> FeedbackAccepted:
        body = {"subjects": list(classes), "labels": list(classes.values())}
        _, answer, _ = await self._request(
            "PATCH", self.settings.predict(_base.batch_path(batch_id)), ok=(202,), json=body
        )
        return _base.convert(answer, FeedbackAccepted)

    async def correct(self, batch_id: str, subject: str, label: int) -> FeedbackAccepted:
        return await self.correct_many(batch_id, {subject: label})

    async def correct_many(self, batch_id: str, labels: Mapping[str, int]) -> FeedbackAccepted:
        result = await self.poll(batch_id)
        if result is None:
            raise _base.pending_conflict(batch_id)
        body = _base.ratings_for({p.subject: p.label for p in result.results}, labels)
        return await self.rate(batch_id, dict(zip(body["subjects"], body["ratings"], strict=True)))

    # -- models and jobs ---------------------------------------------------------------------

    async def current_model(self) -> CurrentModel:
        _, body, _ = await self._request("GET", self.settings.predict("/v1/models/current"))
        return _base.convert(body, CurrentModel)

    async def models(self, limit: int = 20) -> list[ModelVersion]:
        _, body, _ = await self._request("GET", self.settings.predict("/v1/models"), params={"limit": limit})
        return _base.convert(body["items"], list[ModelVersion])

    async def jobs(self, limit: int = 20) -> list[Job]:
        _, body, _ = await self._request("GET", self.settings.predict("/v1/jobs"), params={"limit": limit})
        return _base.convert(body["items"], list[Job])

    # -- bulk files --------------------------------------------------------------------------

    async def submit_file(self, uri: str, *, idempotency_key: str | None = None) -> BulkAccepted:
        _, body, _ = await self._request(
            "POST",
            self.settings.ingest("/v1/jobs/bulk"),
            ok=(202,),
            json={"uri": uri},
            headers={"Idempotency-Key": idempotency_key or _base.new_key_prefix()},
        )
        return _base.convert(body, BulkAccepted)

    async def bulk_progress(self, job_id: str) -> BulkProgress:
        _, body, _ = await self._request("GET", self.settings.predict(_base.bulk_path(job_id)), ok=(200, 202))
        return _base.convert(body, BulkProgress)
