"""svmflow.client against both APIs served over real HTTP on the embedded runtime."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.app import create_ingest_app, create_predict_app
from api.batch_ids import BatchIds
from api.wiring import backend_of
from devstack.processes import free_port
from svmflow.client import (
    AsyncClient,
    Client,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    RetryPolicy,
    ServiceUnreachableError,
    UnauthorizedError,
    UnavailableError,
    WaitTimeoutError,
)
from svmflow.client.batching import batches
from tests.api.conftest import FORGED, GENUINE, KEY, System
from tests.http_servers import FaultPlan, FaultyProxy, serving

FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


@dataclass
class Served:
    ingest_url: str
    predict_url: str
    system: System

    def client(self, **kwargs: object) -> Client:
        return Client(self.ingest_url, self.predict_url, KEY, retry=FAST, **kwargs)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def served(system: System) -> Iterator[Served]:
    container = system.container
    with (
        serving(create_predict_app(backend_of(container), predict_url="http://unused")) as predict_url,
        serving(create_ingest_app(backend_of(container), predict_url=predict_url)) as ingest_url,
    ):
        yield Served(ingest_url, predict_url, system)


def rows(n: int) -> list[list[float]]:
    return [list(GENUINE if i % 2 == 0 else FORGED) for i in range(n)]


def names(n: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    return [f"{prefix}-{i}" for i in range(n)]


def test_submit_wait_and_results(served: Served) -> None:
    subjects = names(5)
    with served.client() as client:
        [accepted] = client.submit(rows(5), subjects)
        assert accepted.record_count == 5
        result = client.wait(accepted.batch_id, timeout=60)
    assert [p.subject for p in result.results] == subjects
    assert [p.label for p in result.results] == [0, 1, 0, 1, 0]
    assert result.model_version == served.system.container.read_model.current_model().version


def test_large_inputs_are_split_within_the_api_limits(served: Served) -> None:
    n = 25_001
    with served.client() as client:
        accepted = client.submit(rows(n), names(n))
        assert [a.record_count for a in accepted] == [10_000, 10_000, 5_001]
        done = client.results(accepted, timeout=120)
    assert sum(len(r.results) for r in done) == n
    assert len({r.batch_id for r in done}) == 3


def test_batches_respect_the_byte_limit() -> None:
    long_subjects = [f"{i:0>120}" for i in range(10_000)]
    wide = [[1.0e-300 + i] * 64 for i in range(10_000)]
    split = list(batches(wide, long_subjects))
    assert len(split) > 1
    assert all(len(b.body()) <= 5 * 1024 * 1024 for b in split)
    assert sum(len(b.subjects) for b in split) == 10_000


def test_iter_predictions_streams_in_input_order(served: Served) -> None:
    n = 2_500
    subjects = names(n)
    # 1,000-row batches, so a small input spans several batches with two of them in flight.
    with served.client(batch_rows=1_000) as client:
        seen = [p.subject for p in client.iter_predictions(rows(n), subjects, in_flight=2)]
    assert seen == subjects


def test_correct_maps_a_true_label_to_a_rating(served: Served) -> None:
    subjects = names(2)
    with served.client() as client:
        with pytest.raises(ConflictError):  # an issued batch whose results are not in
            client.correct(_issued_id(served), subjects[0], 1)
        [accepted] = client.submit(rows(2), subjects)
        client.wait(accepted.batch_id, timeout=60)
        answer = client.correct(accepted.batch_id, subjects[0], 1)  # predicted 0: a wrong prediction
    assert answer.accepted == 1
    served.system.drain()
    from sqlalchemy import text

    with served.system.container.db.engine.connect() as conn:
        stored = (
            conn.execute(
                text("SELECT * FROM feedback_verdicts WHERE batch_id = :b"), {"b": accepted.batch_id}
            )
            .mappings()
            .all()
        )
    assert len(stored) == 1
    assert stored[0]["subject"] == subjects[0]
    assert (stored[0]["rating"], stored[0]["predicted_label"], stored[0]["corrected_label"]) == (0, 0, 1)


def test_models_current_model_and_jobs(served: Served) -> None:
    with served.client() as client:
        current = client.current_model()
        versions = client.models()
        jobs = client.jobs(limit=5)
    assert current.version in {m.version for m in versions}
    assert current.n_features == 4
    assert jobs
    assert jobs[0].decision in ("promoted", "rejected", "failed", "rolled_back")


def test_errors_carry_the_problem_fields(served: Served) -> None:
    with served.client() as client:
        with pytest.raises(InvalidInputError) as invalid:
            client.submit([[1.0, 2.0, 3.0]], ["x"])
        with pytest.raises(NotFoundError) as missing:
            client.wait("never-issued-0", timeout=1)
    assert invalid.value.status == 422
    assert invalid.value.field == "features[0]"
    assert invalid.value.type == "urn:svmflow:problem:invalid-input"
    assert "4" in invalid.value.detail
    assert missing.value.field == "batch_id"
    with (
        Client(served.ingest_url, served.predict_url, "wrong-key", retry=FAST) as client,
        pytest.raises(UnauthorizedError) as unauthorized,
    ):
        client.current_model()
    assert unauthorized.value.status == 401


def _issued_id(served: Served) -> str:
    """An id the API signed, whose results never come."""
    return BatchIds(served.system.container.secrets).issue()


def test_wait_times_out_on_a_batch_that_never_arrives(served: Served) -> None:
    with served.client() as client, pytest.raises(WaitTimeoutError):
        client.wait(_issued_id(served), timeout=0.3)


def test_retries_after_503s_never_submit_twice(served: Served) -> None:
    """The first request is refused, the second is accepted but its answer lost, the third answer
    arrives: one batch, with the id the API gave the lost attempt. Nothing is predicted twice."""
    n = 3
    subjects = names(n)
    plan = FaultPlan("POST", "/v1/batches", ["refuse", "lose", "refuse", "lose"])
    published_before = served.system.spy.count("prediction-requests")
    with serving(FaultyProxy(served.ingest_url, plan)) as proxy_url:
        slept: list[float] = []
        patient = RetryPolicy(attempts=6, base_delay=0.01, max_delay=0.05)
        with Client(proxy_url, served.predict_url, KEY, retry=patient, sleep=slept.append) as client:
            accepted = client.submit(rows(n), subjects)
            result = client.wait(accepted[0].batch_id, timeout=60)
    assert len(accepted) == 1
    assert plan.seen == 5  # four faults, then the answer that arrived
    assert [lost["batch_id"] for lost in plan.lost_answers] == [accepted[0].batch_id] * 2
    assert slept[:4] == [0.0, 0.0, 0.0, 0.0]  # Retry-After: 0, honoured
    assert [p.subject for p in result.results] == subjects
    served.system.drain()
    from sqlalchemy import text

    with served.system.container.db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT batch_id FROM predictions WHERE subject = :s"), {"s": subjects[0]}
        ).all()
    assert [row[0] for row in stored] == [accepted[0].batch_id]
    # Two attempts reached the API: the second published again only if the first's results were not
    # in yet (harmless, the sinks keep one prediction); either way one batch exists.
    assert 1 <= served.system.spy.count("prediction-requests") - published_before <= 2


def test_503_after_every_retry_is_a_typed_error(served: Served) -> None:
    plan = FaultPlan("GET", "/v1/models/current", ["refuse"] * 10, retry_after="7")
    with serving(FaultyProxy(served.predict_url, plan)) as proxy_url:
        slept: list[float] = []
        with (
            Client(served.ingest_url, proxy_url, KEY, retry=FAST, sleep=slept.append) as client,
            pytest.raises(UnavailableError) as error,
        ):
            client.current_model()
    assert error.value.status == 503
    assert plan.seen == FAST.attempts
    assert slept == [7.0] * (FAST.attempts - 1)


def test_connection_errors_are_retried_then_raised() -> None:
    port = free_port()  # nothing listens there
    slept: list[float] = []
    with (
        Client(
            f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}", KEY, retry=FAST, sleep=slept.append
        ) as c,
        pytest.raises(ServiceUnreachableError),
    ):
        c.current_model()
    assert len(slept) == FAST.attempts - 1
    assert all(0 < s <= FAST.max_delay for s in slept)


def test_async_client_end_to_end(served: Served) -> None:
    subjects = names(6)

    async def scenario() -> tuple[list[str], str, int]:
        async with AsyncClient(served.ingest_url, served.predict_url, KEY, retry=FAST) as client:
            accepted = await client.submit(rows(6), subjects)
            [result] = await client.results(accepted, timeout=60)
            collected = [p.subject async for p in client.iter_predictions(rows(3), names(3))]
            current = await client.current_model()
            return [p.subject for p in result.results] + collected, current.version, len(await client.jobs())

    seen, version, jobs = asyncio.run(scenario())
    assert seen[:6] == subjects
    assert len(seen) == 9
    assert version
    assert jobs >= 1


def test_results_name_the_class_and_label_names_the_right_one(served: Served) -> None:
    subjects = names(2)
    with served.client() as client:
        [accepted] = client.submit(rows(2), subjects)
        result = client.wait(accepted.batch_id, timeout=60)
        assert [p.class_name for p in result.results] == ["genuine", "forged"]
        answer = client.label(accepted.batch_id, {subjects[0]: "forged", subjects[1]: "forged"})
    assert answer.accepted == 2
    with pytest.raises(InvalidInputError) as refused, served.client() as client:
        client.label(accepted.batch_id, {subjects[0]: "counterfeit"})
    assert refused.value.field == "labels[0]"


def test_the_async_client_labels_too(served: Served) -> None:
    async def scenario() -> int:
        subjects = names(1)
        async with AsyncClient(served.ingest_url, served.predict_url, KEY, retry=FAST) as client:
            [accepted] = await client.submit(rows(1), subjects)
            await client.wait(accepted.batch_id, timeout=60)
            return (await client.label(accepted.batch_id, {subjects[0]: "genuine"})).accepted

    assert asyncio.run(scenario()) == 1
