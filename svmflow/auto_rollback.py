"""Automatic rollback: after a promotion, the new model's live accuracy is watched against its
predecessor's with the sequential test (``domain.sequential``); on a significant drop a rollback is
requested, which the rollback function carries out and records like an operator's."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from svmflow import topology
from svmflow.contracts import RollbackRequest
from svmflow.domain.performance import VersionPerformance
from svmflow.domain.sequential import WatchPolicy, WatchResult, watch
from svmflow.messaging import publish
from svmflow.model_registry import ModelRegistry, Pointer
from svmflow.ports import Publisher

log = logging.getLogger(__name__)

REQUESTED_BY = "auto"


def _counts(figures: VersionPerformance | None) -> tuple[int, int]:
    """(right, wrong) over every rated prediction of a version."""
    if figures is None or figures.overall.accuracy is None:
        return 0, 0
    n = figures.overall.accuracy.n
    right = round(figures.overall.accuracy.value * n)
    return right, n - right


def watched(pointer: Pointer | None, rated_version: str) -> bool:
    """Only a promotion is watched, and only through ratings of the version it promoted: a version
    served again by a rollback is not judged against the one it replaced."""
    return (
        pointer is not None
        and pointer.version == rated_version
        and pointer.previous_version is not None
        and not pointer.reason.startswith("rollback from")
    )


def request_id(pointer: Pointer) -> str:
    """One automatic rollback per promotion: a redelivered feedback, or the next one arriving before
    the pointer has moved, asks again under the same id, and the rollback function acts once."""
    return f"auto-{pointer.version}-{pointer.promoted_at:%Y%m%dT%H%M%S%f}"


def check(
    pointer: Pointer,
    new: VersionPerformance | None,
    predecessor: VersionPerformance | None,
    policy: WatchPolicy,
) -> WatchResult:
    right, wrong = _counts(new)
    predecessor_right, predecessor_wrong = _counts(predecessor)
    return watch(right, wrong, predecessor_right, predecessor_wrong, policy)


def request_rollback(
    pointer: Pointer, result: WatchResult, policy: WatchPolicy, publisher: Publisher, traceparent: str | None
) -> RollbackRequest:
    assert pointer.previous_version is not None
    request = RollbackRequest(
        request_id=request_id(pointer),
        to_version=pointer.previous_version,
        from_version=pointer.version,
        requested_by=REQUESTED_BY,
        requested_at=datetime.now(UTC),
        reason=result.sentence(pointer.version, pointer.previous_version, policy),
    )
    publish(publisher, topology.ROLLBACK_REQUESTS, request, traceparent=traceparent)
    log.warning(
        "requesting automatic rollback of %s to %s",
        pointer.version,
        pointer.previous_version,
        extra={"model_version": pointer.version, "log_ratio": result.log_ratio, "labels": result.labels},
    )
    return request


def evaluate(
    rated_version: str,
    load: Callable[[str], VersionPerformance | None],
    registry: ModelRegistry,
    publisher: Publisher,
    policy: WatchPolicy,
    traceparent: str | None = None,
) -> RollbackRequest | None:
    """The test for the version just rated, if it is a watched promotion; a rollback request if it
    has dropped."""
    pointer, _ = registry.pointer()
    if pointer is None or not watched(pointer, rated_version):
        return None
    assert pointer.previous_version is not None
    result = check(pointer, load(pointer.version), load(pointer.previous_version), policy)
    if result.verdict != "drop":
        return None
    return request_rollback(pointer, result, policy, publisher, traceparent)
