from __future__ import annotations

import json
from pathlib import Path

import pytest

from svmflow.cli import main


@pytest.fixture(autouse=True)
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SVMFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SVMFLOW_LOG_LEVEL", "WARNING")
    return tmp_path / "state"


def test_seed_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["seed"]) == 0
    assert main(["seed"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "seeded 1372 new training rows",
        "seeded 0 new training rows",
    ]


def test_train_prints_the_holdout_accuracy_and_promotes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train"]) == 0
    out = capsys.readouterr().out
    assert "decision: promoted" in out
    accuracy = float(out.split("seed hold-out accuracy ")[1].split()[0])
    assert accuracy >= 0.98
    assert "C=" in out and "cross-validation" in out  # noqa: PT018 (one line of the same output)


def test_models_list_and_rollback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from svmflow.bootstrap import Container
    from svmflow.config import Settings
    from tests.builders import add_drifted_feedback

    main(["train"])
    main(["train"])  # nothing new: a tie, rejected
    add_drifted_feedback(Container(Settings.from_env()))
    main(["train"])  # the champion drifted: promoted
    capsys.readouterr()
    assert main(["models", "list"]) == 0
    listing = [line for line in capsys.readouterr().out.splitlines() if line[:2] in ("* ", "  ")]
    versions = [line.split()[1] if line.startswith("* ") else line.split()[0] for line in listing[1:]]
    assert len(versions) == 3
    assert [line[:2] for line in listing[1:]] == ["  ", "  ", "* "]
    # The decision column: the gate's sentence for each version.
    assert "Promoted: no champion yet" in listing[1]
    assert "Rejected: only 0 rows of unbiased feedback" in listing[2]
    assert "Promoted:" in listing[3]
    assert main(["models", "rollback"]) == 0
    assert capsys.readouterr().out.strip() == f"production: {versions[2]} -> {versions[0]}"
    main(["models", "list"])
    marks = [line[:2] for line in capsys.readouterr().out.splitlines() if line[:2] in ("* ", "  ")]
    assert marks[1:] == ["* ", "  ", "  "]


def test_rollback_without_history_is_an_error_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "rollback"]) == 1
    assert "no model is in production" in capsys.readouterr().err


def test_dead_letters_list_and_replay(capsys: pytest.CaptureFixture[str], state: Path) -> None:
    from svmflow.runtime.embedded_bus import EmbeddedBus

    bus = EmbeddedBus(state / "bus.sqlite")
    bus.publish("prediction-requests-dead-letter", b"{}", {"svmflow_error": "bad"}).result()
    assert main(["dead-letters", "list"]) == 0
    out = capsys.readouterr().out
    assert "prediction-requests" in out
    assert "bad" in out
    assert "1 dead letter(s)" in out
    assert main(["dead-letters", "replay"]) == 0
    assert "1 message(s) replayed" in capsys.readouterr().out
    assert bus.list_dead_letters() == []


def test_rebuild_cache_needs_a_running_system(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SVMFLOW_EMBEDDED_REDIS_PORT", "1")
    assert main(["rebuild-cache"]) == 1
    assert "is the system running?" in capsys.readouterr().err


def test_schema_check_passes_on_the_committed_schema() -> None:
    assert main(["schema", "check"]) == 0


def test_bad_configuration_is_reported(monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SVMFLOW_HOLDOUT_PERCENT", "abc")
    assert main(["seed"]) == 2
    assert "SVMFLOW_HOLDOUT_PERCENT='abc' is not a valid int" in capsys.readouterr().err


def test_logs_are_json_lines(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SVMFLOW_LOG_LEVEL", "INFO")
    main(["train"])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any(line["severity"] == "INFO" and "training promoted" in line["message"] for line in lines)
