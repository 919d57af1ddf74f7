"""Shadow scoring and automatic rollback, their parts without the real stores: where a challenger that
passed the gate goes, which models score in shadow, and which promotions are watched."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import msgspec
import pytest

from svmflow import operations
from svmflow.auto_rollback import request_id, watched
from svmflow.bootstrap import Container
from svmflow.config import ConfigError, Settings
from svmflow.domain import gate
from svmflow.domain.gate import GateInputs, GatePolicy
from svmflow.domain.records import DecisionRecord
from svmflow.handlers import prediction
from svmflow.model_registry import ModelServer, Pointer
from tests.builders import prediction_request, promote_by_hand
from tests.fakes import RecordingPublisher

REAL_DECIDE = gate.decide


def passing_gate(inputs: GateInputs, policy: GatePolicy) -> DecisionRecord:
    """The real gate's record, with its verdict forced to a promotion."""
    return msgspec.structs.replace(
        REAL_DECIDE(inputs, policy), verdict="promoted", sentence="Promoted: forced."
    )


def with_shadow(trained: Container, records: int) -> Container:
    return Container(
        trained.settings.with_(shadow_records=records),
        publisher=RecordingPublisher(),
        redis=fakeredis.FakeRedis(),
    )


def test_a_challenger_that_passes_the_gate_goes_to_shadow_when_it_is_enabled(
    trained: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate, "decide", passing_gate)
    champion, _ = trained.registry.pointer()
    assert champion is not None
    container = with_shadow(trained, 300)
    event = operations.train(container)
    assert event.decision == "shadow"
    assert event.current_version == champion.version
    assert event.reason.startswith(f"In shadow beside {champion.version} for 300 live records")
    assert event.reason.endswith("Promoted: forced.")
    pointer, _ = container.registry.pointer()
    assert pointer is not None
    assert pointer.version == champion.version  # production did not move
    shadow = container.registry.shadow()
    assert shadow is not None
    assert (shadow.version, shadow.champion_version, shadow.promote_after) == (
        event.candidate_version,
        champion.version,
        300,
    )


def test_without_shadow_scoring_a_passing_challenger_is_promoted_at_once(
    trained: Container, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gate, "decide", passing_gate)
    event = operations.train(with_shadow(trained, 0))
    assert event.decision == "promoted"
    assert trained.registry.shadow() is None


def test_only_the_model_shadowing_the_serving_champion_scores(trained: Container) -> None:
    from svmflow.shadow_promotion import store

    champion, _ = trained.registry.pointer()
    assert champion is not None
    other = promote_by_hand(trained, 0.01)  # serves now; the shadow below was stored beside the first
    store(trained.registry, other, champion.version, "job-x", "Promoted: test.", 10)
    server = ModelServer(trained.registry, refresh_seconds=0)
    assert prediction.predict(prediction_request("a", rows=5), server).shadow is None
    store(trained.registry, champion.version, other, "job-y", "Promoted: test.", 10)
    scored = prediction.predict(prediction_request("b", rows=5), server).shadow
    assert scored is not None
    assert (scored.version, scored.champion_version, scored.records) == (champion.version, other, 5)


def pointer(reason: str, previous: str | None = "v1") -> Pointer:
    return Pointer(
        version="v2",
        sha256="0" * 64,
        promoted_at=datetime(2026, 12, 1, tzinfo=UTC),
        previous_version=previous,
        reason=reason,
        history=[previous] if previous else [],
    )


def test_only_a_promotion_with_a_predecessor_is_watched_through_its_own_ratings() -> None:
    assert watched(pointer("Promoted: significantly better."), "v2")
    assert watched(pointer("Promoted after shadow scoring: ..."), "v2")
    assert not watched(pointer("Promoted: significantly better."), "v1")  # ratings of another version
    assert not watched(pointer("rollback from v3 (rollback-auto-v3)"), "v2")
    assert not watched(pointer("Promoted: no champion yet.", previous=None), "v2")
    assert not watched(None, "v2")


def test_one_rollback_request_id_per_promotion() -> None:
    first = pointer("Promoted: a.")
    again = msgspec.structs.replace(first, promoted_at=datetime(2026, 12, 2, tzinfo=UTC))
    assert request_id(first) == request_id(pointer("Promoted: a."))
    assert request_id(first) != request_id(again)
    assert len(request_id(first)) <= 128


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("auto_rollback", "maybe"),
        ("auto_rollback_alpha", "1.5"),
        ("auto_rollback_labels", "0"),
        ("shadow_records", "-1"),
    ],
)
def test_bad_settings_are_refused_by_name(setting: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"SVMFLOW_{setting.upper()}"):
        Settings.from_env({f"SVMFLOW_{setting.upper()}": value})
