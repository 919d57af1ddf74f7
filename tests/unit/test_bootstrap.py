"""Bootstrap wires each function from its row of the topology: its handler's parameters, by name."""

from __future__ import annotations

import inspect
import sys
import threading
import types
from collections.abc import Iterator
from importlib import import_module

import pytest

from svmflow import topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.messaging import EventContext
from tests.fakes import RecordingPublisher


@pytest.mark.parametrize("name", list(topology.FUNCTIONS))
def test_every_handler_names_only_dependencies_the_container_has(name: str) -> None:
    handle = import_module(topology.FUNCTIONS[name].handler).handle
    wanted = list(inspect.signature(handle).parameters.values())[2:]
    assert wanted, f"{name} takes no dependency"
    unknown = [
        p.name
        for p in wanted
        if p.name not in Container.dependency_names() and p.default is inspect.Parameter.empty
    ]
    assert unknown == []


def test_a_processor_builds_only_what_its_handler_names(settings: Settings) -> None:
    container = Container(settings, publisher=RecordingPublisher())
    container.processor("prediction_to_cache")
    built = set(vars(container)) & Container.dependency_names()
    assert built == {"publisher", "read_model", "redis", "fake_redis_server"}
    container.processor("training_to_db")
    assert "db" in vars(container)
    assert "registry" not in vars(container)
    assert "bucket" not in vars(container)


def test_a_settings_value_is_bound_from_the_settings(container: Container) -> None:
    bound = container.bind(topology.FUNCTIONS["feedback_to_training"])
    assert bound.keywords["min_new_labels"] == container.settings.retrain_min_new_labels  # type: ignore[attr-defined]
    assert bound.keywords["holdout_percent"] == container.settings.holdout_percent  # type: ignore[attr-defined]
    assert bound.keywords["db"] is container.db  # type: ignore[attr-defined]


@pytest.fixture
def stray_handler() -> Iterator[str]:
    """A handler module asking for a dependency nobody provides."""
    module = types.ModuleType("stray_handler")

    def handle(message: object, context: EventContext, *, read_model: object, webhook_secret: str) -> None:
        pass

    module.handle = handle  # type: ignore[attr-defined]
    sys.modules[module.__name__] = module
    yield module.__name__
    del sys.modules[module.__name__]


def test_a_handler_naming_an_unknown_dependency_fails_with_its_name(
    container: Container, stray_handler: str
) -> None:
    row = topology.Function(topology.FEEDBACK, (), stray_handler)
    with pytest.raises(TypeError, match="webhook_secret"):
        container.bind(row)


def test_a_provided_dependency_replaces_the_default_and_a_misspelt_one_is_refused(
    settings: Settings,
) -> None:
    publisher = RecordingPublisher()
    assert Container(settings, publisher=publisher).publisher is publisher
    with pytest.raises(TypeError, match="publsher"):
        Container(settings, publsher=publisher)


def test_a_dependency_is_built_once_when_threads_race_for_it(settings: Settings) -> None:
    container = Container(settings)
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(container.read_model)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(model) for model in seen}) == 1
