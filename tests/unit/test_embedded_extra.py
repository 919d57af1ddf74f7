"""fakeredis is the `embedded` extra: without it embedded mode says what to install, and nothing else
needs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from devstack.processes import free_port
from svmflow.adapters.fake_redis import MissingEmbeddedExtraError
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.embedded import EmbeddedSystem


@pytest.fixture
def without_fakeredis(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import fakeredis` fail as if it were not installed.
    for name in [n for n in sys.modules if n == "fakeredis" or n.startswith("fakeredis.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "fakeredis", None)


@pytest.mark.usefixtures("without_fakeredis")
def test_the_container_names_the_extra_to_install(settings: Settings) -> None:
    with pytest.raises(MissingEmbeddedExtraError, match=r"`embedded` extra.*make install"):
        _ = Container(settings).redis


@pytest.mark.usefixtures("without_fakeredis")
def test_the_embedded_system_refuses_and_frees_its_state_directory(settings: Settings) -> None:
    settings = settings.with_(embedded_redis_port=free_port())
    with pytest.raises(MissingEmbeddedExtraError, match="svmflow\\[embedded\\]"):
        EmbeddedSystem(settings, workers=1)
    # The refusal left no lock behind: with a Redis given, the same directory starts at once.
    system = EmbeddedSystem(settings.with_(redis_url="redis://127.0.0.1:1/0"), workers=1)
    system._unlock_state_dir()


def test_svmflow_run_prints_what_to_install(settings: Settings) -> None:
    # A process of its own: `svmflow run` installs signal handlers and would start servers.
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SVMFLOW_")},
        "SVMFLOW_STATE_DIR": str(settings.state_dir),
        "SVMFLOW_INGEST_PORT": str(free_port()),
        "SVMFLOW_PREDICT_PORT": str(free_port()),
        "SVMFLOW_EMBEDDED_REDIS_PORT": str(free_port()),
    }
    program = (
        "import sys; sys.modules['fakeredis'] = None; from svmflow.cli import main; sys.exit(main(['run']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1, result.stderr
    assert "error: embedded mode without SVMFLOW_REDIS_URL needs fakeredis" in result.stderr
    assert "make install" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_real_redis_needs_no_fakeredis(settings: Settings, without_fakeredis: None) -> None:
    redis = Container(settings.with_(redis_url="redis://127.0.0.1:1/0")).redis
    assert type(redis).__module__.startswith("redis.")
