from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from svmflow.cli import _parser, main
from svmflow.config import Settings
from tests.conftest import free_ports


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


def test_a_cli_replay_clears_the_failed_batch_and_listing_of_a_running_system(
    capsys: pytest.CaptureFixture[str], state: Path
) -> None:
    """The read model of `svmflow run` lives in its memory: the CLI's replay reaches it as a command."""
    import fakeredis

    from svmflow.bootstrap import Container
    from svmflow.runtime.embedded_bus import EmbeddedBus
    from tests.builders import encoded, prediction_request

    settings = Settings.from_env()
    running = Container(settings, redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()))
    bus: EmbeddedBus = running.bus
    running.subscribe_all(bus, ["prediction_dead_letters", "dead_letter_replay"])
    request = prediction_request("cli-batch", rows=2)
    attributes = {"batch_id": "cli-batch", "svmflow_error": "dead-lettered after 5 attempts: boom"}
    bus.publish("prediction-requests-dead-letter", encoded(request), attributes).result()
    bus.drain(10)
    assert running.read_model.get_failure("cli-batch") is not None
    assert [d.batch_id for d in running.read_model.dead_letters()] == ["cli-batch"]

    assert main(["dead-letters", "replay"]) == 0
    assert "1 message(s) replayed" in capsys.readouterr().out
    bus.drain(10)  # the command the CLI published
    assert running.read_model.dead_letters() == []
    assert running.read_model.get_failure("cli-batch") is None  # pending until it is predicted
    assert running.read_model.batch_statuses(["cli-batch"]) == ["pending"]
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


def test_run_with_a_port_taken_says_which_and_what_to_change_in_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, state: Path
) -> None:
    for variable, what in (
        ("SVMFLOW_INGEST_PORT", "ingest API"),
        ("SVMFLOW_PREDICT_PORT", "predict API"),
        ("SVMFLOW_EMBEDDED_REDIS_PORT", "embedded Redis"),
    ):
        ports = free_ports(3)
        for name, port in zip(
            ("SVMFLOW_INGEST_PORT", "SVMFLOW_PREDICT_PORT", "SVMFLOW_EMBEDDED_REDIS_PORT"), ports, strict=True
        ):
            monkeypatch.setenv(name, str(port))
        taken = int(os.environ[variable])
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", taken))
            holder.listen()
            assert main(["run"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        assert f"port {taken} ({what}" in err
        assert "already in use" in err
        assert variable in err
        assert "Traceback" not in err
    assert not (state / "svmflow.sqlite").exists(), "nothing starts before the ports are known to be free"


def test_run_refuses_one_port_for_both_apis(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_ports(1)[0]
    monkeypatch.setenv("SVMFLOW_EMBEDDED_REDIS_PORT", str(free_ports(1)[0]))
    assert main(["run", "--ingest-port", str(port), "--predict-port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"both set to port {port}" in err
    assert "SVMFLOW_PREDICT_PORT or --predict-port" in err


def test_demo_help_shows_the_urls_and_key_it_really_uses(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVMFLOW_INGEST_PORT", "9180")
    monkeypatch.setenv("SVMFLOW_PREDICT_URL", "http://predict.example:9999")
    monkeypatch.delenv("SVMFLOW_SECRET_API_KEYS", raising=False)
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "default: http://127.0.0.1:9180" in help_text
    assert "default: http://predict.example:9999" in help_text
    assert "--api-key API_KEY default: dev-local-key" in help_text
    assert "(default: 60)" in help_text
    # ... and those are what the demo then uses.
    args = _parser(Settings.from_env()).parse_args(["demo"])
    assert (args.ingest_url, args.predict_url) == ("http://127.0.0.1:9180", "http://predict.example:9999")


def test_jobs_lists_every_training_request_with_its_state(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["jobs"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 training request(s)"
    assert main(["train"]) == 0
    capsys.readouterr()
    assert main(["jobs"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-1] == "1 training request(s)"
    [job] = [line for line in lines if "job-manual-" in line]
    assert " promoted " in job
    assert "no champion yet" in job


def test_models_performance_prints_figures_with_intervals(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import UTC, datetime

    from svmflow.bootstrap import Container
    from svmflow.config import Settings
    from svmflow.contracts import Feedback, Predictions
    from svmflow.handlers import feedback_to_performance, prediction_to_db
    from svmflow.messaging import EventContext

    assert main(["models", "performance"]) == 1
    assert "no model in production" in capsys.readouterr().err
    main(["train"])
    capsys.readouterr()
    container = Container(Settings.from_env())
    version = container.registry.pointer()[0].version  # type: ignore[union-attr]
    assert main(["models", "performance"]) == 0
    assert capsys.readouterr().out.strip() == f"no rated predictions of model version {version} yet"
    moment = datetime(2026, 12, 1, 12, tzinfo=UTC)
    prediction_to_db.handle(
        Predictions(
            batch_id="b1",
            subjects=["a", "b", "c", "d"],
            features=[[0.0]] * 4,
            labels=[0, 0, 1, 1],
            scores=[-1.0, -1.0, 1.0, 1.0],
            model_version=version,
            submitted_at=moment,
            predicted_at=moment,
        ),
        EventContext("e1", {}),
        db=container.db,
    )
    feedback_to_performance.handle(
        Feedback(batch_id="b1", subjects=["a", "b", "c", "d"], ratings=[1, 1, 1, 0], rated_at=moment),
        EventContext("e2", {}),
        db=container.db,
        read_model=container.read_model,
    )
    assert main(["models", "performance", version]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"model version {version}")
    overall = next(line for line in lines if line.startswith("overall"))
    assert "accuracy 0.750 [" in overall
    assert "n=4" in overall
    assert any(line.startswith("2026-12-01") for line in lines)
    assert main(["models", "performance", version, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    recall = figures["overall"]["recall"]["0"]
    assert (recall["value"], recall["n"]) == (pytest.approx(2 / 3), 3)
    assert recall["low"] < 2 / 3 < recall["high"]
