"""Automatic rollback on real PostgreSQL and Redis: a promoted model whose rated predictions fall
significantly below its predecessor's is rolled back once, with the reason in the job history that
`/v1/models` serves, and the prediction function serves the predecessor again at its next refresh."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from svmflow import contracts, topology
from svmflow.adapters.local_bucket import LocalBucket
from svmflow.config import Settings
from svmflow.contracts import Feedback, ModelEvent, Predictions, RollbackRequest
from svmflow.domain.sequential import WatchPolicy
from svmflow.handlers import (
    feedback_to_performance,
    prediction_to_db,
    rollback,
    training_to_cache,
    training_to_db,
)
from svmflow.messaging import EventContext
from svmflow.model_registry import ModelRegistry, ModelServer
from tests.builders import promote_by_hand
from tests.fakes import RecordingPublisher
from tests.stores import Stores, real_stores

pytestmark = pytest.mark.integration

POLICY = WatchPolicy(drop=0.05, alpha=0.01, max_labels=1000)


@pytest.fixture(scope="module")
def stores() -> Iterator[Stores]:
    with real_stores() as found:
        yield found


@pytest.fixture
def registry(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(LocalBucket(tmp_path / "bucket"))


def context() -> EventContext:
    return EventContext(uuid.uuid4().hex, {})


def rated_batch(stores: Stores, version: str, right: int, wrong: int) -> Feedback:
    """A batch predicted by ``version`` and stored, and the feedback rating it (not yet handled)."""
    rows = right + wrong
    batch_id = uuid.uuid4().hex
    subjects = [f"s{i}" for i in range(rows)]
    now = datetime.now(UTC)
    prediction_to_db.handle(
        Predictions(
            batch_id=batch_id,
            subjects=subjects,
            features=[[float(i)] for i in range(rows)],
            labels=[1] * rows,
            scores=[1.0] * rows,
            model_version=version,
            submitted_at=now,
            predicted_at=now,
        ),
        context(),
        db=stores.db,
    )
    return Feedback(batch_id=batch_id, subjects=subjects, ratings=[1] * right + [0] * wrong, rated_at=now)


def rate(
    stores: Stores,
    registry: ModelRegistry,
    publisher: RecordingPublisher,
    message: Feedback,
    event: EventContext,
) -> None:
    feedback_to_performance.handle(
        message,
        event,
        db=stores.db,
        read_model=stores.read_model,
        registry=registry,
        publisher=publisher,
        watch=POLICY,
    )


def two_versions(registry: ModelRegistry) -> tuple[str, str]:
    holder = SimpleNamespace(registry=registry)
    old = promote_by_hand(holder, 1.0)
    new = promote_by_hand(holder, 0.1)
    return old, new


def rollback_requests(publisher: RecordingPublisher) -> list[RollbackRequest]:
    return [contracts.decode(m.data, RollbackRequest) for m in publisher.on(topology.ROLLBACK_REQUESTS)]


def test_a_promotion_that_drops_is_rolled_back_once_with_the_reason(
    stores: Stores, registry: ModelRegistry
) -> None:
    old, new = two_versions(registry)
    promotion = ModelEvent(
        job_id=f"job-{new}",
        request_id=new,
        decision="promoted",
        reason="Promoted: significantly better.",
        candidate_version=new,
        current_version=new,
        previous_version=old,
        finished_at=datetime.now(UTC),
    )
    training_to_cache.handle(promotion, context(), read_model=stores.read_model)
    publisher = RecordingPublisher()
    clock = [0.0]
    server = ModelServer(registry, Settings().model_refresh_seconds, clock=lambda: clock[0])
    assert server.current().version == new
    for _ in range(4):  # the predecessor: 90% right on 2000 labels
        rate(stores, registry, publisher, rated_batch(stores, old, 450, 50), context())
    assert rollback_requests(publisher) == []

    labels = 0
    last: tuple[Feedback, EventContext] | None = None
    while not rollback_requests(publisher) and labels < POLICY.max_labels:
        last = (rated_batch(stores, new, 40, 10), context())  # 80% right
        rate(stores, registry, publisher, *last)
        labels += 50
    requests = rollback_requests(publisher)
    assert len(requests) == 1
    assert 50 <= labels <= 400
    request = requests[0]
    assert (request.to_version, request.from_version, request.requested_by) == (old, new, "auto")
    assert request.reason is not None
    assert f"live accuracy of {new} is 0.800" in request.reason

    # A redelivery of the feedback before the pointer moves asks again under the same id...
    assert last is not None
    rate(stores, registry, publisher, *last)
    again = rollback_requests(publisher)
    assert len(again) == 2
    assert again[1].request_id == request.request_id
    # ... and the rollback function acts once.
    rollback_publisher = RecordingPublisher()
    first = rollback.handle(request, context(), registry=registry, publisher=rollback_publisher)
    second = rollback.handle(again[1], context(), registry=registry, publisher=rollback_publisher)
    assert first.decision == "rolled_back"
    assert contracts.encode(first) == contracts.encode(second)
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == old

    # Once the predecessor serves again, further ratings of the rolled-back version ask for nothing.
    rate(stores, registry, publisher, rated_batch(stores, new, 30, 20), context())
    assert len(rollback_requests(publisher)) == 2

    # The prediction function serves the predecessor at its next look at the pointer (<= 60 s).
    assert server.refresh_seconds <= 60
    clock[0] += server.refresh_seconds
    assert server.current().version == old

    # The event reaches the job history and the current model that /v1/models serves.
    for published in rollback_publisher.on(topology.MODELS):
        event = contracts.decode(published.data, ModelEvent)
        event_context = EventContext(published.message_id, published.attributes)
        training_to_cache.handle(event, event_context, read_model=stores.read_model)
        training_to_db.handle(event, event_context, db=stores.db)
    jobs = [job for job in stores.read_model.jobs() if job.job_id == first.job_id]
    assert len(jobs) == 1
    assert jobs[0].decision == "rolled_back"
    assert jobs[0].reason.startswith(f"rolled back from {new} to {old}: automatic rollback")
    listed = {entry.version: entry for entry in stores.read_model.model_versions()}
    note = listed[new].rolled_back
    assert note is not None
    assert note.to_version == old
    assert "automatic rollback" in note.reason
    current = stores.read_model.current_model()
    assert current is not None
    assert (current.version, current.decision) == (old, "rolled_back")
    assert "significantly below" in current.reason


def test_a_promotion_as_good_as_its_predecessor_is_kept(stores: Stores, registry: ModelRegistry) -> None:
    old, new = two_versions(registry)
    publisher = RecordingPublisher()
    for _ in range(4):
        rate(stores, registry, publisher, rated_batch(stores, old, 450, 50), context())
    for _ in range(20):  # 1000 labels at the predecessor's 90%: the watch ends without a rollback
        rate(stores, registry, publisher, rated_batch(stores, new, 45, 5), context())
    assert rollback_requests(publisher) == []
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == new


def test_a_request_for_a_version_no_longer_serving_is_refused(
    stores: Stores, registry: ModelRegistry
) -> None:
    old, new = two_versions(registry)
    newest = promote_by_hand(SimpleNamespace(registry=registry), 10.0)
    request = RollbackRequest(
        request_id=f"auto-{uuid.uuid4().hex[:8]}",
        to_version=old,
        from_version=new,
        requested_by="auto",
        requested_at=datetime.now(UTC),
        reason="automatic rollback: test",
    )
    event = rollback.handle(request, context(), registry=registry, publisher=RecordingPublisher())
    assert event.decision == "failed"
    assert f"it was asked for {new}, but {newest} serves now" in event.reason
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == newest
