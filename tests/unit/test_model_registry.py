from __future__ import annotations

import threading
from pathlib import Path

import pytest

from svmflow import operations
from svmflow.adapters.local_bucket import LocalBucket
from svmflow.bootstrap import Container
from svmflow.errors import ArtifactIntegrityError, ModelNotFoundError, PreconditionFailedError
from svmflow.model_registry import POINTER_PATH, ModelRegistry, ModelServer
from tests.builders import promote_by_hand


def tamper(bucket: LocalBucket, version: str) -> None:
    path = f"models/{version}/model.json"
    blob = bucket.read(path)
    assert blob is not None
    bucket.write(path, blob.data.replace(b'"intercept": ', b'"intercept": 1'))


def second_version(container: Container) -> str:
    """Train again with a lower bar so a second version is promoted."""
    event = operations.train(container)
    assert event is not None
    assert event.candidate_version is not None
    return event.candidate_version


def test_bucket_precondition_lets_one_writer_win(tmp_path: Path) -> None:
    bucket = LocalBucket(tmp_path)
    first = bucket.write("p", b"1", if_generation_match=0)
    with pytest.raises(PreconditionFailedError):
        bucket.write("p", b"2", if_generation_match=0)
    second = bucket.write("p", b"3", if_generation_match=first)
    assert second > first
    with pytest.raises(PreconditionFailedError):
        bucket.write("p", b"4", if_generation_match=first)
    blob = bucket.read("p")
    assert blob is not None
    assert (blob.data, blob.generation) == (b"3", second)


def test_bucket_refuses_paths_outside_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="invalid object name"):
        LocalBucket(tmp_path / "b").write("../escape", b"x")


def test_concurrent_promotions_exactly_one_wins(trained: Container) -> None:
    registry = trained.registry
    pointer, generation = registry.pointer()
    assert pointer is not None
    results: list[str] = []
    barrier = threading.Barrier(8)

    def promote() -> None:
        barrier.wait()
        try:
            registry.promote(pointer.version, generation, reason="race")
            results.append("won")
        except PreconditionFailedError:
            results.append("lost")

    threads = [threading.Thread(target=promote) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]


def test_digest_mismatch_is_refused(trained: Container) -> None:
    pointer, _ = trained.registry.pointer()
    assert pointer is not None
    tamper(trained.bucket, pointer.version)  # type: ignore[arg-type]
    with pytest.raises(ArtifactIntegrityError, match="does not match"):
        trained.registry.load(pointer.version)


def test_server_keeps_serving_when_the_new_model_is_altered(trained: Container) -> None:
    server = ModelServer(trained.registry, refresh_seconds=0)
    first = server.current().version
    registry = trained.registry
    # Promote a second version by hand, then alter its bytes before the server sees it.
    promote_by_hand(trained, c=0.05)
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version != first
    tamper(trained.bucket, pointer.version)  # type: ignore[arg-type]
    assert server.current().version == first


def test_server_hot_swaps_without_reloading_per_call(trained: Container) -> None:
    clock = [0.0]
    server = ModelServer(trained.registry, refresh_seconds=10, clock=lambda: clock[0])
    first = server.current().version
    for _ in range(100):
        assert server.current().version == first
    assert server.loads == 1
    second = promote_by_hand(trained, c=0.05)
    assert server.current().version == first  # within the refresh interval: no check yet
    clock[0] = 11
    assert server.current().version == second != first
    assert server.loads == 2


def test_rollback_repoints_and_refuses_nonsense(trained: Container) -> None:
    registry = trained.registry
    first, _ = registry.pointer()
    assert first is not None
    with pytest.raises(ModelNotFoundError, match="no previous version"):
        registry.rollback()
    second = promote_by_hand(trained, c=0.05)
    old, new = registry.rollback()
    assert (old.version, new.version) == (second, first.version)
    with pytest.raises(ValueError, match="already in production"):
        registry.rollback(first.version)
    with pytest.raises(ModelNotFoundError):
        registry.rollback("no-such-version")


def test_rollback_publishes_a_model_event(trained: Container, publisher) -> None:  # type: ignore[no-untyped-def]
    promote_by_hand(trained, c=0.05)
    publisher.messages.clear()
    event = operations.rollback(trained)
    assert event.decision == "rolled_back"
    assert [m.topic for m in publisher.messages] == ["models"]


def test_registry_without_pointer(tmp_path: Path) -> None:
    registry = ModelRegistry(LocalBucket(tmp_path))
    assert registry.pointer() == (None, 0)
    assert registry.bucket.generation(POINTER_PATH) is None
    server = ModelServer(registry, refresh_seconds=0)
    with pytest.raises(Exception, match="no production model"):
        server.current()


def _shared(container: Container) -> dict[str, object]:
    """The same database, bucket, cache and publisher under different settings."""
    return {
        "db": container.db,
        "bucket": container.bucket,
        "redis": container.redis,
        "publisher": container.publisher,
    }


def test_server_keeps_serving_while_the_bucket_is_unreachable(trained: Container) -> None:
    server = ModelServer(trained.registry, refresh_seconds=0)
    first = server.current().version

    def unreachable(*_: object) -> None:
        raise ConnectionError("bucket down")

    trained.bucket.generation = unreachable  # type: ignore[method-assign]
    assert server.current().version == first
    fresh = ModelServer(trained.registry, refresh_seconds=0)
    with pytest.raises(ConnectionError):
        fresh.current()  # nothing to fall back on: the failure surfaces, the message is redelivered


def test_rollbacks_walk_the_history_backwards(trained: Container) -> None:
    registry = trained.registry
    first, _ = registry.pointer()
    assert first is not None
    second = promote_by_hand(trained, c=0.05)
    third = promote_by_hand(trained, c=0.5)
    assert registry.pointer()[0].history == [first.version, second]  # type: ignore[union-attr]
    assert registry.rollback()[1].version == second
    assert registry.rollback()[1].version == first.version  # not forward to the third again
    with pytest.raises(ModelNotFoundError, match="no previous version"):
        registry.rollback()
    assert registry.rollback(third)[1].version == third
    assert registry.rollback()[1].version == first.version
