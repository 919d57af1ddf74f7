"""What the sync and async clients share: addresses, headers, decoding, and the answer-to-error rules.
Only the waiting differs between the two, so everything else lives here."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import quote

import httpx2
import msgspec

from svmflow.client.errors import ConflictError, UnexpectedResponseError, error_from_response
from svmflow.client.retry import PollSchedule, RetryPolicy

if TYPE_CHECKING:
    from svmflow.client.types import Accepted

T = TypeVar("T")

DEFAULT_INGEST_URL = "http://127.0.0.1:8080"
DEFAULT_PREDICT_URL = "http://127.0.0.1:8081"
DEFAULT_API_KEY = "dev-local-key"  # the local default of `svmflow run` (api/README.md, Authentication)


class ResultNotifier(Protocol):
    """The hook for pushed results (a webhook). The API has no webhooks yet: until it does, ``wait``
    polls. A notifier that receives the system's callbacks implements this and is passed as
    ``Client(notifier=...)``; ``wait`` then blocks on it between polls instead of sleeping."""

    def wait_for(self, batch_id: str, timeout: float) -> bool:
        """Return True as soon as ``batch_id`` is reported done, False after ``timeout`` seconds."""
        ...


@dataclass(frozen=True)
class Settings:
    ingest_url: str = DEFAULT_INGEST_URL
    predict_url: str = DEFAULT_PREDICT_URL
    api_key: str = DEFAULT_API_KEY
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    polling: PollSchedule = field(default_factory=PollSchedule)

    def headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key, "Accept": "application/json"}

    def ingest(self, path: str) -> str:
        return self.ingest_url.rstrip("/") + path

    def predict(self, path: str) -> str:
        return self.predict_url.rstrip("/") + path


def new_key_prefix() -> str:
    """One submission's Idempotency-Key prefix; batch ``i`` is sent with ``<prefix>-<i>``."""
    return f"svmflow-client-{uuid.uuid4().hex}"


def batch_path(batch_id: str) -> str:
    return f"/v1/batches/{quote(batch_id, safe='')}"


def bulk_path(job_id: str) -> str:
    return f"/v1/jobs/bulk/{quote(job_id, safe='')}"


def decode_body(response: httpx2.Response) -> Any:
    if not response.content:
        return None
    try:
        return msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text


def raise_for_problem(response: httpx2.Response, ok: Iterable[int]) -> Any:
    """The decoded body of an expected answer; a typed error carrying the problem otherwise."""
    body = decode_body(response)
    if response.status_code in ok:
        return body
    raise error_from_response(
        response.status_code,
        body,
        dict(response.headers),
        response.request.method,
        str(response.request.url),
    )


def convert(body: Any, kind: type[T]) -> T:
    try:
        return msgspec.convert(body, kind, strict=False)
    except msgspec.ValidationError as exc:
        raise UnexpectedResponseError(
            f"the API answered a {kind.__name__} this client cannot read: {exc}"
        ) from exc


def ratings_for(result_labels: Mapping[str, int], corrections: Mapping[str, int]) -> dict[str, Any]:
    """The predict API takes ratings (1 right, 0 wrong): a true label becomes a rating of the prediction."""
    subjects = list(corrections)
    missing = [s for s in subjects if s not in result_labels]
    if missing:
        raise KeyError(f"subjects not in the batch: {', '.join(map(repr, missing[:10]))}")
    return {
        "subjects": subjects,
        "ratings": [int(result_labels[s] == int(corrections[s])) for s in subjects],
    }


def batch_id_of(batch: str | Accepted) -> str:
    return batch if isinstance(batch, str) else batch.batch_id


def pending_conflict(batch_id: str) -> ConflictError:
    """Correcting a batch needs its results; this is the error when they are not in yet."""
    return ConflictError(
        409,
        title="Conflict",
        detail="the batch has no results yet; correct it once wait() returns",
        field="batch_id",
        method="GET",
        url=batch_id,
    )
