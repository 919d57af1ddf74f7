"""Does retraining make the model better, and can lying feedback make it worse?

Small scenarios replayed through the whole pipeline (embedded bus, every processor, the real gate),
with the gate and retraining settings the product ships with.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from svmflow.bootstrap import Container
from svmflow.cli import main
from svmflow.config import Settings
from svmflow.domain.training import SEED, accuracy, is_holdout, read_seed_csv, row_hash
from svmflow.evaluation import replay, report
from svmflow.evaluation.data import split
from svmflow.evaluation.replay import Result
from svmflow.evaluation.scenario import PRESETS

BATCHES = 8
DRIFT_AT = 3
DEFAULTS = Settings()


def run(name: str, state: Path) -> Result:
    scenario = PRESETS[name].with_(batches=BATCHES, drift_at=DRIFT_AT)
    return replay.run(scenario, DEFAULTS, state)


def seed_holdout_accuracy(state: Path, version: str) -> float:
    """Measured here from the data set and the stored artifact, not taken from the pipeline's report."""
    seed_rows = split(read_seed_csv(DEFAULTS.data_path)).seed
    holdout = [r for r in seed_rows if is_holdout(row_hash(r.features), DEFAULTS.holdout_percent)]
    assert all(r.source == SEED for r in holdout)
    registry = Container(replay.evaluation_settings(DEFAULTS, state)).registry
    measured = accuracy(registry.load(version), holdout)
    assert measured is not None
    return measured


@pytest.fixture(scope="module")
def honest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    state = tmp_path_factory.mktemp("honest") / "state"
    return run("sudden-drift", state), state


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path]:
    state = tmp_path_factory.mktemp("adversarial") / "state"
    return run("adversarial", state), state


def test_honest_feedback_after_a_drift_promotes_a_more_accurate_model(honest: tuple[Result, Path]) -> None:
    result, state = honest
    at_drift = result.version(result.batches[DRIFT_AT].served_by)
    # The drift hurts: the model serving when it starts is clearly worse on the new distribution.
    assert at_drift.truth_after < at_drift.truth_before - 0.1
    adapted = [v for v in result.versions if v.decision == "promoted" and v.batch >= DRIFT_AT]
    assert adapted, "no model was promoted after the drift"
    assert max(v.truth_after for v in adapted) > at_drift.truth_after + 0.1
    # ... and that better model is the one serving afterwards, without giving up the seed data.
    final = result.version(result.final_version)
    assert final.truth_after > at_drift.truth_after + 0.1
    assert result.batches[-1].truth_accuracy > result.batches[DRIFT_AT].truth_accuracy + 0.1
    assert seed_holdout_accuracy(state, final.version) >= DEFAULTS.gate_accuracy_floor
    assert result.dead_letters == 0


def test_adversarial_feedback_never_promotes_below_the_floor_and_the_champion_serves(
    adversarial: tuple[Result, Path],
) -> None:
    result, state = adversarial
    floor = DEFAULTS.gate_accuracy_floor
    for version in result.versions:
        if version.decision == "promoted":
            assert seed_holdout_accuracy(state, version.version) >= floor
    # The lies did reach training (every challenger after the first batch learned from them), and
    # every one of those challengers was refused.
    trained_on_lies = [j for j in result.jobs if j.batch >= 0 and j.new_labels > 0]
    assert trained_on_lies
    assert {j.decision for j in trained_on_lies} == {"rejected"}
    # Every batch was answered in full, by the first champion, which is still in production.
    assert [b.served_by for b in result.batches] == [result.first_version] * BATCHES
    assert all(b.rows == PRESETS["adversarial"].batch_size for b in result.batches)
    assert result.final_version == result.first_version
    assert result.dead_letters == 0


def test_report_has_json_table_and_plot(adversarial: tuple[Result, Path], tmp_path: Path) -> None:
    result, _ = adversarial
    paths = report.write(result, tmp_path / "out")
    document = json.loads(paths["json"].read_text())
    assert document["scenario"]["name"] == "adversarial"
    assert len(document["batches"]) == BATCHES
    assert document["summary"]["promotions"] == 0
    assert document["summary"]["final_version"] == result.first_version
    assert {j["decision"] for b in document["batches"] for j in b["jobs"]} == {"rejected"}
    lines = paths["table"].read_text().splitlines()
    assert len(lines) == BATCHES + 3
    assert "rejected" in lines[2]
    png = paths["plot"].read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(png) > 10_000


def test_evaluate_command_writes_a_report_under_the_state_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SVMFLOW_STATE_DIR", str(tmp_path / "state"))
    out = tmp_path / "state" / "evaluation"
    monkeypatch.setenv("COLUMNS", "1000")  # one line per option in the help
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert f"report folder (default: {out}, under SVMFLOW_STATE_DIR)" in capsys.readouterr().out
    code = main(["evaluate", "--scenario", "no-drift", "--batches", "2"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "scenario no-drift: 2 batches of 50" in printed
    assert "| `no-drift` |" in printed
    assert sorted(p.name for p in out.iterdir()) == [
        "no-drift.json",
        "no-drift.png",
        "no-drift.txt",
        "summary.md",
    ]
