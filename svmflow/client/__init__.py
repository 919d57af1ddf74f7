"""A typed Python client for the svmflow APIs, blocking (``Client``) and asyncio (``AsyncClient``).

It splits large inputs into batches within the API's limits, sends each with its own Idempotency-Key
(so a retry never submits twice), retries 429/503 and dropped connections with bounded backoff that
honours ``Retry-After``, polls for results with backoff, and raises typed errors that carry the API's
``application/problem+json`` fields::

    from svmflow.client import Client

    with Client() as client:  # a local `svmflow run`, its default key
        for prediction in client.iter_predictions([[3.6, 8.6, -2.8, -0.4], [-1.4, 3.3, -1.4, -2.0]]):
            print(prediction.subject, prediction.label, prediction.score)
"""

from svmflow.client.aio import AsyncClient
from svmflow.client.batching import Batch, batches
from svmflow.client.errors import (
    ApiError,
    BadRequestError,
    ClientError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    ServiceUnreachableError,
    UnauthorizedError,
    UnavailableError,
    UnexpectedResponseError,
    UnsupportedMediaTypeError,
    WaitTimeoutError,
)
from svmflow.client.retry import PollSchedule, RetryPolicy
from svmflow.client.sync import Client
from svmflow.client.types import (
    Accepted,
    BatchResult,
    BulkAccepted,
    BulkProgress,
    CurrentModel,
    Evaluation,
    FeedbackAccepted,
    Job,
    ModelVersion,
    Prediction,
)

__all__ = [
    "Accepted",
    "ApiError",
    "AsyncClient",
    "BadRequestError",
    "Batch",
    "BatchResult",
    "BulkAccepted",
    "BulkProgress",
    "Client",
    "ClientError",
    "ConflictError",
    "CurrentModel",
    "Evaluation",
    "FeedbackAccepted",
    "InvalidInputError",
    "Job",
    "ModelVersion",
    "NotFoundError",
    "PayloadTooLargeError",
    "PollSchedule",
    "Prediction",
    "RateLimitedError",
    "RetryPolicy",
    "ServiceUnreachableError",
    "UnauthorizedError",
    "UnavailableError",
    "UnexpectedResponseError",
    "UnsupportedMediaTypeError",
    "WaitTimeoutError",
    "batches",
]
