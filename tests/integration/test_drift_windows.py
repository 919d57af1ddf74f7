"""Drift windows under concurrent deliveries, on real PostgreSQL and Redis (the row lock on a
version's open window is what is under test) and on SQLite and fakeredis, the embedded mode's stores."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import fakeredis
import msgspec
import numpy as np
import pytest
from sqlalchemy import select

from svmflow.contracts import Predictions
from svmflow.db.database import Database, make_engine
from svmflow.db.tables import DriftWindow
from svmflow.domain.drift import ReferenceProfile, reference_profile
from svmflow.handlers import drift_monitor
from svmflow.handlers.drift_monitor import DriftOptions, ReferenceProfiles
from svmflow.messaging import EventContext
from svmflow.read_model import ReadModel
from tests.fakes import RecordingPublisher
from tests.stores import Stores, real_stores

pytestmark = pytest.mark.integration

WINDOW = 100
NAMES = ["a", "b", "c"]


class FixedProfiles(ReferenceProfiles):
    """Every version has the same reference: standard normal features."""

    def __init__(self) -> None:
        rng = np.random.default_rng(0)
        self.profile = reference_profile(rng.standard_normal((2_000, len(NAMES))), NAMES)

    def of(self, version: str) -> ReferenceProfile | None:
        return self.profile


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


def message(version: str, rows: int, seed: int, batch_id: str | None = None) -> Predictions:
    features = np.random.default_rng(seed).standard_normal((rows, len(NAMES)))
    now = datetime.now(UTC)
    return Predictions(
        batch_id=batch_id or uuid.uuid4().hex,
        subjects=[f"s{i}" for i in range(rows)],
        features=features.tolist(),
        labels=[0] * rows,
        scores=[0.0] * rows,
        model_version=version,
        submitted_at=now,
        predicted_at=now,
    )


def deliver(stores: Stores, publisher: RecordingPublisher, predictions: Predictions) -> None:
    drift_monitor.handle(
        predictions,
        EventContext(uuid.uuid4().hex, {}),
        db=stores.db,
        read_model=stores.read_model,
        publisher=publisher,
        drift_references=FixedProfiles(),
        drift_options=DriftOptions(window_size=WINDOW, alpha=0.0001),
    )


def figures(stores: Stores, version: str) -> dict[str, object]:
    body = stores.read_model.drift_json(version)
    assert body is not None
    return msgspec.json.decode(body)  # type: ignore[no-any-return]


def test_concurrent_batches_of_one_version_fill_its_windows_in_turn(stores: Stores) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    publisher = RecordingPublisher()
    batches = [message(version, 30, seed) for seed in range(10)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        list(pool.map(lambda m: deliver(stores, publisher, m), batches))
    view = figures(stores, version)
    assert (view["windows_closed"], view["records_in_window"]) == (3, 0)
    assert view["revision"] == 10  # the projection of the last batch counted won
    with stores.db.transaction() as session:
        windows = session.execute(
            select(DriftWindow.window, DriftWindow.rows).where(DriftWindow.model_version == version)
        ).all()
    assert sorted(windows) == [(1, WINDOW), (2, WINDOW), (3, WINDOW)]


def test_concurrent_copies_of_one_batch_are_counted_once(stores: Stores) -> None:
    version = f"v-{uuid.uuid4().hex[:8]}"
    publisher = RecordingPublisher()
    copy = message(version, 40, seed=1, batch_id="one-batch")
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: deliver(stores, publisher, copy), range(4)))
    assert figures(stores, version)["records_in_window"] == 40
    # The same batch predicted by another version counts in that version's windows.
    other = msgspec.structs.replace(copy, model_version=f"{version}-next")
    deliver(stores, publisher, other)
    assert figures(stores, f"{version}-next")["records_in_window"] == 40
    assert figures(stores, version)["records_in_window"] == 40
