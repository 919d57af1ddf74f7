"""The blocking client."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
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


class Client:
    """Talks to both APIs: submit, wait, correct, models and jobs, bulk files.

    ``Client()`` reaches a local ``svmflow run`` with its default key. Use it as a context manager, or
    call ``close()``, to release its connections."""

    def __init__(
        self,
        ingest_url: str = _base.DEFAULT_INGEST_URL,
        predict_url: str = _base.DEFAULT_PREDICT_URL,
        api_key: str = _base.DEFAULT_API_KEY,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        polling: PollSchedule | None = None,
        notifier: _base.ResultNotifier | None = None,
        batch_rows: int = MAX_ROWS,
        transport: httpx2.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = _base.Settings(
            ingest_url,
            predict_url,
            api_key,
            timeout,
            retry or RetryPolicy(),
            polling or PollSchedule(),
        )
        self.notifier = notifier
        self._sleep = sleep
        self.batch_rows = batch_rows
        self._http = httpx2.Client(headers=self.settings.headers(), timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- transport ---------------------------------------------------------------------------

    def _request(
        self, method: str, url: str, *, ok: Iterable[int] = (200,), **kwargs: Any
    ) -> tuple[int, Any, httpx2.Headers]:
        policy = self.settings.retry
        for attempt in range(1, policy.attempts + 1):
            try:
                response = self._http.request(method, url, **kwargs)
            except httpx2.TransportError as exc:
                if attempt == policy.attempts:
                    raise ServiceUnreachableError(f"{method} {url}: {exc!r} after {attempt} tries") from exc
                self._sleep(policy.delay(attempt))
                continue
            if response.status_code in RETRY_STATUSES and attempt < policy.attempts:
                self._sleep(policy.delay(attempt, response.headers.get("retry-after")))
                continue
            body = _base.raise_for_problem(response, ok)
            return response.status_code, body, response.headers
        raise AssertionError("unreachable")  # the loop returns or raises on its last attempt

    # -- batches -----------------------------------------------------------------------------

    def submit_batch(self, batch: Batch, idempotency_key: str) -> Accepted:
        """One batch, as is; a retry (of this call or of the whole program) with the same key gets the
        same batch id, so it is never predicted twice."""
        _, body, _ = self._request(
            "POST",
            self.settings.ingest("/v1/batches"),
            ok=(202,),
            content=batch.body(),
            headers={"Content-Type": "application/json", "Idempotency-Key": idempotency_key},
        )
        return _base.convert(body, Accepted)

    def submit(
        self,
        rows: Iterable[Sequence[float]],
        subjects: Iterable[str] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> list[Accepted]:
        """Submit any number of rows, split into batches within the API's limits.

        Batch ``i`` carries the Idempotency-Key ``<idempotency_key>-<i>``: pass your own key to make
        re-running the same submission safe too (a fresh one is drawn otherwise)."""
        prefix = idempotency_key or _base.new_key_prefix()
        return [
            self.submit_batch(batch, f"{prefix}-{index}")
            for index, batch in enumerate(batches(rows, subjects, max_rows=self.batch_rows))
        ]

    def poll(self, batch_id: str) -> BatchResult | None:
        """The results, or None while the batch is pending."""
        status, body, _ = self._request(
            "GET", self.settings.predict(_base.batch_path(batch_id)), ok=(200, 202)
        )
        return _base.convert(body, BatchResult) if status == 200 else None

    def wait(self, batch_id: str, timeout: float = 120.0) -> BatchResult:
        """Poll (with backoff) until the results are in; ``WaitTimeoutError`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        polls = 0
        while True:
            status, body, headers = self._request(
                "GET", self.settings.predict(_base.batch_path(batch_id)), ok=(200, 202)
            )
            if status == 200:
                return _base.convert(body, BatchResult)
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeoutError(f"batch {batch_id} still pending after {timeout:g} s")
            pause = min(left, self.settings.polling.interval(polls, headers.get("retry-after")))
            if self.notifier is not None:
                self.notifier.wait_for(batch_id, pause)
            else:
                self._sleep(pause)
            polls += 1

    def results(self, batch_ids: Iterable[str | Accepted], timeout: float = 120.0) -> list[BatchResult]:
        """Every batch's results, waiting for each; ``timeout`` is for all of them together."""
        deadline = time.monotonic() + timeout
        return [
            self.wait(_base.batch_id_of(b), timeout=max(0.0, deadline - time.monotonic())) for b in batch_ids
        ]

    def iter_predictions(
        self,
        rows: Iterable[Sequence[float]],
        subjects: Iterable[str] | None = None,
        *,
        in_flight: int = 4,
        timeout: float = 120.0,
        idempotency_key: str | None = None,
    ) -> Iterator[Prediction]:
        """Predictions in input order, for an input of any size: up to ``in_flight`` batches are
        submitted ahead of the one being read, so memory holds a few batches, not the input."""
        prefix = idempotency_key or _base.new_key_prefix()
        pending: collections.deque[str] = collections.deque()
        for index, batch in enumerate(batches(rows, subjects, max_rows=self.batch_rows)):
            pending.append(self.submit_batch(batch, f"{prefix}-{index}").batch_id)
            if len(pending) > in_flight:
                yield from self.wait(pending.popleft(), timeout).results
        while pending:
            yield from self.wait(pending.popleft(), timeout).results

    def predict(
        self, rows: Iterable[Sequence[float]], subjects: Iterable[str] | None = None, timeout: float = 120.0
    ) -> list[Prediction]:
        return list(self.iter_predictions(rows, subjects, timeout=timeout))

    # -- feedback ----------------------------------------------------------------------------

    def rate(self, batch_id: str, ratings: Mapping[str, int]) -> FeedbackAccepted:
        """Say which predictions were right (1) or wrong (0)."""
        body = {"subjects": list(ratings), "ratings": [int(r) for r in ratings.values()]}
        _, answer, _ = self._request(
            "PATCH", self.settings.predict(_base.batch_path(batch_id)), ok=(202,), json=body
        )
        return _base.convert(answer, FeedbackAccepted)

    def label(self, batch_id: str, classes: Mapping[str, str]) -> FeedbackAccepted:
        """Name the right class of each subject (``{subject: class name}``): the correction a model
        of more than two classes needs, and the ratings follow from it."""
        body = {"subjects": list(classes), "labels": list(classes.values())}
        _, answer, _ = self._request(
            "PATCH", self.settings.predict(_base.batch_path(batch_id)), ok=(202,), json=body
        )
        return _base.convert(answer, FeedbackAccepted)

    def correct(self, batch_id: str, subject: str, label: int) -> FeedbackAccepted:
        """Give the true label of one subject of a binary model; it is sent as a rating of the batch's
        prediction (for more classes, ``label`` names the class)."""
        return self.correct_many(batch_id, {subject: label})

    def correct_many(self, batch_id: str, labels: Mapping[str, int]) -> FeedbackAccepted:
        result = self.poll(batch_id)
        if result is None:
            raise _base.pending_conflict(batch_id)
        body = _base.ratings_for({p.subject: p.label for p in result.results}, labels)
        return self.rate(batch_id, dict(zip(body["subjects"], body["ratings"], strict=True)))

    # -- models and jobs ---------------------------------------------------------------------

    def current_model(self) -> CurrentModel:
        _, body, _ = self._request("GET", self.settings.predict("/v1/models/current"))
        return _base.convert(body, CurrentModel)

    def models(self, limit: int = 20) -> list[ModelVersion]:
        _, body, _ = self._request("GET", self.settings.predict("/v1/models"), params={"limit": limit})
        return _base.convert(body["items"], list[ModelVersion])

    def jobs(self, limit: int = 20) -> list[Job]:
        _, body, _ = self._request("GET", self.settings.predict("/v1/jobs"), params={"limit": limit})
        return _base.convert(body["items"], list[Job])

    # -- bulk files --------------------------------------------------------------------------

    def submit_file(self, uri: str, *, idempotency_key: str | None = None) -> BulkAccepted:
        """Predict every row of a CSV or JSON-lines file in the bucket (``gs://bucket/bulk/...``)."""
        _, body, _ = self._request(
            "POST",
            self.settings.ingest("/v1/jobs/bulk"),
            ok=(202,),
            json={"uri": uri},
            headers={"Idempotency-Key": idempotency_key or _base.new_key_prefix()},
        )
        return _base.convert(body, BulkAccepted)

    def bulk_progress(self, job_id: str) -> BulkProgress:
        _, body, _ = self._request("GET", self.settings.predict(_base.bulk_path(job_id)), ok=(200, 202))
        return _base.convert(body, BulkProgress)

    def wait_file(
        self,
        job_id: str,
        timeout: float = 3600.0,
        on_progress: Callable[[BulkProgress], None] | None = None,
        interval: float = 0.5,
    ) -> BulkProgress:
        deadline = time.monotonic() + timeout
        while True:
            progress = self.bulk_progress(job_id)
            if on_progress is not None:
                on_progress(progress)
            if progress.finished:
                return progress
            if time.monotonic() > deadline:
                raise WaitTimeoutError(f"bulk job {job_id} not finished after {timeout:g} s")
            self._sleep(interval)
