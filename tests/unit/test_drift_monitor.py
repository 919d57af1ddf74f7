"""The drift monitor on the predictions topic: windows per model version, alarms, redelivery, the
read model and the CLI, with SQLite, fakeredis and a recording publisher."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select

from svmflow import contracts, operations, topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import DriftEvent, Predictions, TrainingRequest
from svmflow.db.tables import DriftState, DriftWindow
from svmflow.domain.drift import ReferenceProfile
from svmflow.domain.training import FEATURE_NAMES, read_seed_csv
from svmflow.messaging import Delivery
from tests.builders import DATA, promote_by_hand
from tests.fakes import RecordingPublisher

WINDOW = 200
ROWS = np.asarray([r.features for r in read_seed_csv(DATA)], dtype=np.float64)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(drift_window=WINDOW)


def version_of(container: Container) -> str:
    pointer, _ = container.registry.pointer()
    assert pointer is not None
    return pointer.version


def reference(container: Container, version: str) -> ReferenceProfile:
    profile = container.registry.metadata(version).metrics.drift_reference
    assert profile is not None
    return profile


def stream(rng: np.random.Generator, rows: int, shift: dict[int, float] | None = None) -> np.ndarray:
    """Live records drawn at random from the data set (it is sorted by class: in order, the first
    windows would hold one class only), optionally shifted feature by feature."""
    sample = ROWS[rng.integers(0, len(ROWS), rows)].copy()
    for column, offset in (shift or {}).items():
        sample[:, column] += offset
    return sample


def predictions(version: str, rows: np.ndarray, batch_id: str | None = None) -> Predictions:
    now = datetime.now(UTC)
    return Predictions(
        batch_id=batch_id or uuid.uuid4().hex,
        subjects=[f"s{i}" for i in range(len(rows))],
        features=rows.tolist(),
        labels=[0] * len(rows),
        scores=[-1.0] * len(rows),
        model_version=version,
        submitted_at=now,
        predicted_at=now,
    )


def deliver(container: Container, message: Predictions, message_id: str | None = None) -> str:
    delivery = Delivery(
        topic=topology.PREDICTIONS,
        data=contracts.encode(message),
        attributes={"batch_id": message.batch_id},
        message_id=message_id or uuid.uuid4().hex,
    )
    return container.processor("drift_monitor").process(delivery)


def view(container: Container, version: str) -> dict[str, object]:
    body = container.read_model.drift_json(version)
    assert body is not None
    return json.loads(body)  # type: ignore[no-any-return]


def alarms(publisher: RecordingPublisher) -> list[DriftEvent]:
    return [contracts.decode(m.data, DriftEvent) for m in publisher.on(topology.DRIFT_EVENTS)]


def test_training_stores_the_reference_profile_of_its_training_rows(trained: Container) -> None:
    version = version_of(trained)
    metadata = trained.registry.metadata(version)
    profile = reference(trained, version)
    assert profile.rows == metadata.train_size
    assert [f.name for f in profile.features] == FEATURE_NAMES
    assert all(len(f.quantiles) == 201 and len(f.bin_shares) == 10 for f in profile.features)
    variance = profile.features[0]
    assert variance.quantiles[0] <= variance.mean <= variance.quantiles[-1]


def test_an_unshifted_stream_raises_no_alarm(trained: Container, publisher: RecordingPublisher) -> None:
    version = version_of(trained)
    rng = np.random.default_rng(10)
    for _ in range(10):
        assert deliver(trained, predictions(version, stream(rng, 100))) == "done"
    figures = view(trained, version)
    assert figures["windows_closed"] == 5
    assert figures["records_in_window"] == 0
    assert figures["window_size"] == WINDOW
    assert figures["drifted"] is False
    assert [f["name"] for f in figures["features"]] == FEATURE_NAMES  # type: ignore[union-attr]
    assert not any(f["drifted"] for f in figures["features"])  # type: ignore[union-attr]
    assert alarms(publisher) == []


def test_a_shifted_feature_raises_an_event_a_log_line_and_shows_in_the_figures(
    trained: Container, publisher: RecordingPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    version = version_of(trained)
    sd = reference(trained, version).features[0].std
    rng = np.random.default_rng(11)
    deliver(trained, predictions(version, stream(rng, WINDOW)))
    assert alarms(publisher) == []
    with caplog.at_level(logging.WARNING):
        deliver(trained, predictions(version, stream(rng, WINDOW, {0: 0.5 * sd})))
    [event] = alarms(publisher)
    assert (event.model_version, event.window, event.window_size) == (version, 2, WINDOW)
    assert event.event_id == f"{version}/2"
    assert event.drifted_features == ["variance"]
    [line] = [r for r in caplog.records if getattr(r, "event", None) == "input_drift"]
    assert line.model_version == version  # type: ignore[attr-defined]
    assert line.features == ["variance"]  # type: ignore[attr-defined]
    figures = view(trained, version)
    assert figures["drifted"] is True
    assert figures["windows_closed"] == 2
    variance = figures["features"][0]  # type: ignore[index]
    assert variance["drifted"] is True
    assert variance["p_value"] < 0.0001 / 4
    assert variance["mean_shift_sd"] == pytest.approx(0.5, abs=0.25)
    assert variance["psi"] > figures["features"][1]["psi"]  # type: ignore[index]
    assert 0 < variance["ks"] <= 1
    assert publisher.on(topology.TRAINING_REQUESTS) == []  # retraining on drift is off by default


def test_a_redelivered_or_republished_batch_is_counted_once(
    trained: Container, publisher: RecordingPublisher
) -> None:
    version = version_of(trained)
    message = predictions(version, stream(np.random.default_rng(12), 150))
    deliver(trained, message, message_id="first")
    deliver(trained, message, message_id="first")  # a redelivery
    deliver(trained, message, message_id="second")  # the same batch published again
    assert view(trained, version)["records_in_window"] == 150
    with trained.db.transaction() as session:
        assert session.scalar(select(DriftState.windows_closed)) == 0
    deliver(trained, predictions(version, stream(np.random.default_rng(13), 60)))
    figures = view(trained, version)
    assert (figures["windows_closed"], figures["records_in_window"]) == (1, 10)


def test_a_batch_larger_than_a_window_closes_several(trained: Container) -> None:
    version = version_of(trained)
    deliver(trained, predictions(version, stream(np.random.default_rng(14), 450)))
    figures = view(trained, version)
    assert (figures["windows_closed"], figures["records_in_window"]) == (2, 50)
    with trained.db.transaction() as session:
        assert session.scalars(select(DriftWindow.window).order_by(DriftWindow.window)).all() == [1, 2]


def test_retraining_is_asked_for_at_the_onset_of_drift_when_enabled(
    trained: Container, publisher: RecordingPublisher
) -> None:
    version = version_of(trained)
    retraining = Container(
        trained.settings.with_(drift_retrain=True),
        db=trained.db,
        registry=trained.registry,
        publisher=publisher,
        redis=trained.redis,
    )
    sd = reference(trained, version).features[3].std
    rng = np.random.default_rng(15)
    for _ in range(2):  # two drifted windows in a row: one request
        deliver(retraining, predictions(version, stream(rng, WINDOW, {3: 0.8 * sd})))
    assert [e.drifted_features for e in alarms(publisher)] == [["entropy"], ["entropy"]]
    [request] = [contracts.decode(m.data, TrainingRequest) for m in publisher.on(topology.TRAINING_REQUESTS)]
    assert (request.reason, request.request_id) == ("drift", f"drift-{version}-1")


def test_a_version_without_a_reference_profile_is_not_monitored(
    trained: Container, publisher: RecordingPublisher
) -> None:
    version = promote_by_hand(trained, c=1.0)  # metadata as older releases wrote it: no profile
    assert deliver(trained, predictions(version, stream(np.random.default_rng(16), 300))) == "done"
    assert trained.read_model.drift_json(version) is None
    with trained.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(DriftState)) == 0
    assert alarms(publisher) == []


def test_rows_of_another_width_are_left_out(trained: Container) -> None:
    version = version_of(trained)
    rows = stream(np.random.default_rng(17), 10).tolist()
    rows[0] = [1.0, 2.0]
    message = predictions(version, np.zeros((10, 4)))
    message.features = rows
    deliver(trained, message)
    assert view(trained, version)["records_in_window"] == 9


def test_rebuilding_the_read_model_restores_the_figures(trained: Container) -> None:
    version = version_of(trained)
    deliver(trained, predictions(version, stream(np.random.default_rng(18), 250)))
    before = view(trained, version)
    trained.read_model.clear()
    counts = operations.rebuild_read_model(trained)
    assert counts["drift"] == 1
    assert view(trained, version) == before


def test_the_cli_prints_each_features_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from svmflow.cli import main

    monkeypatch.setenv("SVMFLOW_STATE_DIR", str(tmp_path / "cli"))
    monkeypatch.setenv("SVMFLOW_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("SVMFLOW_DRIFT_WINDOW", "100")
    assert main(["models", "drift"]) == 1
    assert "no model in production" in capsys.readouterr().err
    main(["train"])
    capsys.readouterr()
    container = Container(Settings.from_env())
    version = version_of(container)
    assert main(["models", "drift", "no-such-version"]) == 1
    assert "no model version 'no-such-version'" in capsys.readouterr().err
    assert main(["models", "drift"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"model version {version}: 0 window(s) of 100 records closed, 0 record(s) in the open window",
        "no window has closed yet",
    ]
    sd = reference(container, version).features[1].std
    deliver(container, predictions(version, stream(np.random.default_rng(19), 130, {1: sd})))
    assert '"event": "input_drift"' in capsys.readouterr().out  # the alert's line, as JSON on stdout
    assert main(["models", "drift", version]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "1 window(s) of 100 records closed, 30 record(s) in the open window" in lines[0]
    assert "DRIFTED: skewness" in lines[1]
    skewness = next(line for line in lines if line.startswith("skewness"))
    assert skewness.endswith("yes")
    assert main(["models", "drift", version, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["drifted_features"] == ["skewness"]


def test_the_drift_settings_are_read_and_checked() -> None:
    from svmflow.config import ConfigError

    read = Settings.from_env(
        {"SVMFLOW_DRIFT_WINDOW": "200", "SVMFLOW_DRIFT_ALPHA": "0.001", "SVMFLOW_DRIFT_RETRAIN": "true"}
    )
    assert (read.drift_window, read.drift_alpha, read.drift_retrain) == (200, 0.001, True)
    assert Settings.from_env({"SVMFLOW_DRIFT_RETRAIN": "off"}).drift_retrain is False
    assert Settings().drift_retrain is False
    with pytest.raises(ConfigError, match="SVMFLOW_DRIFT_RETRAIN='maybe'"):
        Settings.from_env({"SVMFLOW_DRIFT_RETRAIN": "maybe"})
    with pytest.raises(ConfigError, match="SVMFLOW_DRIFT_WINDOW"):
        Settings.from_env({"SVMFLOW_DRIFT_WINDOW": "10"})
    with pytest.raises(ConfigError, match="SVMFLOW_DRIFT_ALPHA"):
        Settings.from_env({"SVMFLOW_DRIFT_ALPHA": "1.5"})
