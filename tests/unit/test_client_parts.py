"""The client's pure parts: batch splitting, Retry-After, backoff bounds, problem+json to typed errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from svmflow.client import InvalidInputError, RetryPolicy, UnavailableError, batches
from svmflow.client.errors import ApiError, error_from_response
from svmflow.client.retry import PollSchedule, parse_retry_after


def test_batches_keep_order_and_name_rows_by_position() -> None:
    split = list(batches([[float(i)] for i in range(25)], max_rows=10))
    assert [len(b.subjects) for b in split] == [10, 10, 5]
    assert [s for b in split for s in b.subjects] == [str(i) for i in range(25)]


def test_batches_refuse_mismatched_subjects() -> None:
    with pytest.raises(ValueError, match="more rows than subjects"):
        list(batches([[1.0], [2.0]], ["a"]))
    with pytest.raises(ValueError, match="more subjects than rows"):
        list(batches([[1.0]], ["a", "b"]))


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (parse_retry_after(later) or 0) <= 30
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_is_bounded_and_retry_after_capped() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, max_retry_after=10.0)
    delays = [policy.delay(attempt) for attempt in range(1, 12)]
    assert all(0.25 <= d <= 4.0 for d in delays)
    assert policy.delay(1, "3600") == 10.0
    assert PollSchedule(first=0.1, max_interval=1.0).interval(50) == 1.0
    assert PollSchedule().interval(50, "1") == 1.0


def test_problems_become_typed_errors() -> None:
    problem = {
        "type": "urn:svmflow:problem:invalid-input",
        "title": "Invalid input",
        "status": 422,
        "detail": "Expected `float`, got `bool`",
        "field": "features[1][1]",
    }
    error = error_from_response(422, problem, {}, "POST", "http://x/v1/batches")
    assert isinstance(error, InvalidInputError)
    assert (error.type, error.title, error.detail, error.field) == (
        problem["type"],
        "Invalid input",
        problem["detail"],
        "features[1][1]",
    )
    assert "features[1][1]" in str(error)
    assert isinstance(error_from_response(503, None, {"retry-after": "2"}, "GET", "u"), UnavailableError)
    teapot = error_from_response(418, "<html>", {}, "GET", "u")
    assert type(teapot) is ApiError
    assert teapot.detail == "<html>"
