"""Live performance per model version: feedback joined to the predictions it rates, aggregated in
the database and projected into the read model. On real PostgreSQL and Redis (locking and upserts
are what is under test), and on SQLite and fakeredis, the embedded mode's stores."""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fakeredis
import msgspec
import pytest

from svmflow.contracts import Feedback, Predictions
from svmflow.db import performance
from svmflow.db.database import Database, make_engine
from svmflow.domain.performance import VersionPerformance
from svmflow.handlers import feedback_to_db, feedback_to_performance, prediction_to_db
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel
from tests.stores import Stores, real_stores

pytestmark = pytest.mark.integration

DAY1 = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
DAY2 = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)


@pytest.fixture(scope="module", params=["postgres+redis", "sqlite+fakeredis"])
def stores(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    if request.param == "postgres+redis":
        with real_stores() as found:
            yield found
        return
    path: Path = tmp_path_factory.mktemp("sqlite") / "db.sqlite"
    db = Database(make_engine(f"sqlite:///{path}"))
    db.create_schema()
    yield Stores(db, ReadModel(fakeredis.FakeRedis(), prefix="svmflow:test:"))


def context() -> EventContext:
    return EventContext(uuid.uuid4().hex, {})


def store_batch(stores: Stores, version: str, labels: list[int], at: datetime) -> tuple[str, list[str]]:
    batch_id = uuid.uuid4().hex
    subjects = [f"s{i}" for i in range(len(labels))]
    message = Predictions(
        batch_id=batch_id,
        subjects=subjects,
        features=[[float(i)] for i in range(len(labels))],
        labels=labels,
        scores=[1.0 if label else -1.0 for label in labels],
        model_version=version,
        submitted_at=at,
        predicted_at=at,
    )
    prediction_to_db.handle(message, context(), db=stores.db)
    return batch_id, subjects


def rate(
    stores: Stores, batch_id: str, subjects: list[str], ratings: list[int], event: EventContext | None = None
) -> None:
    message = Feedback(batch_id=batch_id, subjects=subjects, ratings=ratings, rated_at=datetime.now(UTC))
    feedback_to_performance.handle(message, event or context(), db=stores.db, read_model=stores.read_model)


def served(stores: Stores, version: str) -> VersionPerformance:
    body = stores.read_model.performance_json(version)
    assert body is not None
    return msgspec.json.decode(body, type=VersionPerformance)


def test_figures_per_version_overall_and_per_day(stores: Stores) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    # Day 1: predicted [1, 1, 0, 0], rated right, wrong, right, wrong -> truth [1, 0, 0, 1].
    b1, s1 = store_batch(stores, version, [1, 1, 0, 0], DAY1)
    rate(stores, b1, s1, [1, 0, 1, 0])
    # Day 2: predicted [0, 0, 0], all right -> truth [0, 0, 0].
    b2, s2 = store_batch(stores, version, [0, 0, 0], DAY2)
    rate(stores, b2, s2, [1, 1, 1])
    # Another version's ratings do not mix in.
    other = f"v-{uuid.uuid4().hex[:8]}"
    b3, s3 = store_batch(stores, other, [1], DAY2)
    rate(stores, b3, s3, [0])

    figures = served(stores, version)
    assert figures.overall.labels == 7
    assert figures.overall.accuracy is not None
    assert figures.overall.accuracy.value == pytest.approx(5 / 7)
    assert figures.overall.accuracy.n == 7
    # Truth 0: 4 records, 3 predicted 0; truth 1: 2 records... (s1[0] right, s1[3] wrong) -> 1 of 2.
    assert figures.overall.recall["0"].n == 5
    assert figures.overall.recall["0"].value == pytest.approx(4 / 5)
    assert figures.overall.recall["1"].n == 2
    assert figures.overall.recall["1"].value == pytest.approx(1 / 2)
    assert figures.overall.balanced_accuracy is not None
    assert figures.overall.balanced_accuracy.value == pytest.approx((4 / 5 + 1 / 2) / 2)
    assert [d.day for d in figures.days] == ["2026-11-30", "2026-12-01"]
    assert [d.labels for d in figures.days] == [4, 3]
    assert figures.days[1].accuracy is not None
    assert figures.days[1].accuracy.value == 1.0
    assert served(stores, other).overall.labels == 1
    # The read model holds exactly what the database holds.
    with stores.db.transaction() as session:
        assert performance.load(session, version) == figures


def test_a_later_rating_replaces_an_earlier_one(stores: Stores) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    batch_id, subjects = store_batch(stores, version, [1, 0], DAY1)
    rate(stores, batch_id, subjects, [1, 1])
    rate(stores, batch_id, subjects[:1], [0])
    figures = served(stores, version)
    assert figures.overall.labels == 2
    assert figures.overall.accuracy is not None
    assert figures.overall.accuracy.value == 0.5


def test_a_redelivery_counts_nothing_twice_and_restores_the_projection(stores: Stores) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    batch_id, subjects = store_batch(stores, version, [1, 0, 1], DAY1)
    event = context()
    rate(stores, batch_id, subjects, [1, 0, 1], event)
    first = served(stores, version)
    # Redis lost the projection after the commit; the redelivered message writes it again.
    stores.read_model.client.delete(stores.read_model._key("performance", version))
    rate(stores, batch_id, subjects, [1, 0, 1], event)
    assert served(stores, version) == first


def test_the_order_of_the_two_feedback_sinks_does_not_matter(stores: Stores) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    batch_id, subjects = store_batch(stores, version, [1, 1], DAY1)
    message = Feedback(batch_id=batch_id, subjects=subjects, ratings=[0, 1], rated_at=datetime.now(UTC))
    feedback_to_db.handle(message, context(), db=stores.db)  # the verdicts exist already
    feedback_to_performance.handle(message, context(), db=stores.db, read_model=stores.read_model)
    figures = served(stores, version)
    assert figures.overall.labels == 2
    assert figures.overall.recall["1"].value == 1.0
    assert figures.overall.recall["0"].value == 0.0


def test_concurrent_feedback_for_one_version_loses_no_label(stores: Stores) -> None:
    """Recomputations of one version serialise on its revision row: without that, two transactions
    each count only their own verdicts and the later commit drops the other's."""
    version = f"v-{uuid.uuid4().hex[:8]}"
    batches = [store_batch(stores, version, [1, 0, 1, 0], DAY2 + timedelta(minutes=i)) for i in range(8)]
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def go(batch_id: str, subjects: list[str]) -> None:
        barrier.wait()
        try:
            rate(stores, batch_id, subjects, [1, 1, 0, 1])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=batch) for batch in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    figures = served(stores, version)
    assert figures.overall.labels == 32
    assert figures.overall.accuracy is not None
    assert figures.overall.accuracy.value == 0.75
    assert figures.revision == len(batches)
    assert list(itertools.chain(d.labels for d in figures.days)) == [32]
