"""The deployed entry points, driven the way Pub/Sub push drives them, through functions-framework."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import functions_framework
import pytest

from svmflow import bootstrap, contracts, operations, topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.messaging import Delivery
from svmflow.runtime.embedded_bus import EmbeddedBus
from tests.builders import encoded, prediction_request

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SVMFLOW_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SVMFLOW_MODEL_REFRESH_SECONDS", "0")
    monkeypatch.setattr(bootstrap, "_default", None)
    yield tmp_path
    bootstrap._default = None


def push(function: str, data: bytes, message_id: str = "m-1", attributes: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """POST the plain push envelope to the topic path, as the Pub/Sub emulator does."""
    app = functions_framework.create_app(
        target=function, source=str(ROOT / "main.py"), signature_type="cloudevent"
    )
    topic = topology.FUNCTIONS[function].topic
    envelope = {
        "message": {
            "data": base64.b64encode(data).decode(),
            "attributes": attributes or {},
            "messageId": message_id,
            "publishTime": "2026-01-01T00:00:00Z",
        },
        "subscription": f"projects/p/subscriptions/{topology.subscription_name(function)}",
    }
    return app.test_client().post(f"/projects/p/topics/{topic}", json=envelope)


def received(state: Path, function: str) -> list[Delivery]:
    bus = EmbeddedBus(state / "bus.sqlite")
    seen: list[Delivery] = []
    bus.subscribe(topology.subscription_name(function), seen.append)
    bus.drain(5)
    return seen


def test_main_exports_every_function() -> None:
    from functions_framework import _function_registry

    import main

    assert set(main.__all__) == set(topology.FUNCTIONS)
    for name in topology.FUNCTIONS:
        entry = getattr(main, name)
        # functions-framework finds the entry point by attribute and its signature type by this name.
        assert entry.__name__ == name
        assert _function_registry.REGISTRY_MAP[name] == _function_registry.CLOUDEVENT_SIGNATURE_TYPE


def test_importing_main_opens_nothing(state: Path) -> None:
    import importlib

    import main

    importlib.reload(main)
    assert bootstrap._default is None
    assert not (state / "bus.sqlite").exists()


def test_push_to_prediction_publishes_predictions(state: Path) -> None:
    container = Container(Settings.from_env())
    operations.seed(container)
    operations.train(container)
    request = prediction_request("ff-1")
    response = push("prediction", encoded(request), attributes={"batch_id": "ff-1"})
    assert response.status_code == 200
    [delivery] = received(state, "prediction_to_cache")
    result = contracts.decode(delivery.data, contracts.Predictions)
    assert result.batch_id == "ff-1"
    assert delivery.attributes["batch_id"] == "ff-1"


def test_transient_failure_answers_500_so_pubsub_redelivers(state: Path) -> None:
    response = push("prediction", encoded(prediction_request("ff-2")))  # no model trained yet
    assert response.status_code == 500


def test_poison_is_acknowledged_and_dead_lettered(state: Path) -> None:
    response = push("prediction", b"not json", message_id="poison-1")
    assert response.status_code == 200
    [letter] = EmbeddedBus(state / "bus.sqlite").list_dead_letters()
    assert letter.attributes["svmflow_source_message_id"] == "poison-1"
    assert letter.attributes["svmflow_function"] == "prediction"
