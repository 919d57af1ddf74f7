"""Each step of a training on its own: gather, fit, evaluate, decide, store, promote."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import numpy as np
import pytest

from svmflow.adapters.local_bucket import LocalBucket
from svmflow.contracts import ArtifactMetrics
from svmflow.db.queries import StoredRow
from svmflow.domain.gate import GatePolicy
from svmflow.domain.records import Reference
from svmflow.domain.training import (
    FEEDBACK,
    SAMPLE,
    SEED,
    LabelledRow,
    TrainingDataError,
    predict_rows,
    read_seed_csv,
)
from svmflow.model_registry import ModelRegistry
from svmflow.training import steps
from svmflow.training.options import TrainingOptions
from tests.builders import DATA

SEED_ROWS = read_seed_csv(DATA)
OPTIONS = TrainingOptions(policy=GatePolicy(min_window=20), c_grid=(0.1, 1.0), cv_folds=3)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


class RecordingTrainingStore:
    """The training store's interface over lists, remembering every write."""

    def __init__(self, stored: list[StoredRow] | None = None, labels_total: int = 0) -> None:
        self.stored = stored or []
        self.labels_total = labels_total
        self.rule_changes: list[dict[int, str | None]] = []
        self.tests_counted: list[str] = []
        self.targets: list[tuple[int | None, float]] = []

    def rows(self) -> tuple[list[StoredRow], int]:
        return self.stored, self.labels_total

    def apply_rule_statuses(self, changes: dict[int, str | None]) -> None:
        self.rule_changes.append(changes)

    def tests_so_far(self, champion: str) -> int:
        return self.tests_counted.count(champion)

    def count_test(self, champion: str) -> int:
        self.tests_counted.append(champion)
        return self.tests_so_far(champion)

    def set_retrain_targets(self, labels_needed: int | None, reference_error: float) -> None:
        self.targets.append((labels_needed, reference_error))


def stored(row_id: int, row: LabelledRow, *, holdout: bool = False, **status: str | None) -> StoredRow:
    return StoredRow(
        id=row_id,
        row=row,
        holdout=holdout,
        status=status.get("status") or "active",
        status_by=status.get("status_by"),
        labelled_at=NOW,
        status_reason=status.get("status_reason"),
    )


def feedback(row: LabelledRow, key: str) -> LabelledRow:
    return LabelledRow(FEEDBACK, key, row.features, row.label, SAMPLE)


def data_of(
    train: list[LabelledRow], holdout: list[LabelledRow], window: list[LabelledRow]
) -> steps.TrainingData:
    every = [stored(i, row) for i, row in enumerate(train + holdout + window)]
    rules = steps.quarantine_rules(every, OPTIONS.outlier_iqr)
    data = steps.split_rows(every, rules, labels_total=len(window), window=OPTIONS.policy.window)
    # split_rows decides the hold-out by flag; here the caller says which rows are which.
    return replace(data, train=train + window, seed_holdout=holdout, window=window)


@pytest.fixture(scope="module")
def data() -> steps.TrainingData:
    seeds = SEED_ROWS[::4]  # both classes, a few hundred rows
    window = [feedback(r, f"f{i}") for i, r in enumerate(SEED_ROWS[1::40])]
    return data_of(seeds[:250], seeds[250:], window)


@pytest.fixture(scope="module")
def fitted(data: steps.TrainingData) -> steps.Fitted:
    return steps.fit(data, OPTIONS)


def test_gather_quarantines_an_outlying_feedback_row_and_splits_the_rest() -> None:
    seeds = [stored(i, SEED_ROWS[i], holdout=i % 5 == 0) for i in range(40)]
    normal = [stored(100 + i, feedback(SEED_ROWS[50 + i], f"n{i}")) for i in range(10)]
    outlier = stored(200, feedback(LabelledRow(SEED, "x", (1e6, 0.0, 0.0, 0.0), 0), "far"))
    by_operator = stored(
        300, feedback(SEED_ROWS[70], "op"), status="quarantined", status_by="operator", status_reason="typo"
    )
    store = RecordingTrainingStore([*seeds, *normal, outlier, by_operator], labels_total=12)

    data = steps.gather(store, OPTIONS)  # type: ignore[arg-type]

    assert list(store.rule_changes[0]) == [200]
    assert "= 1e+06 is outside the robust range" in (store.rule_changes[0][200] or "")
    assert data.quarantined == 2
    assert {r.key for r in data.window} == {f"n{i}" for i in range(10)}
    assert len(data.seed_holdout) == 8
    assert len(data.train) == 32 + 10
    assert "far" not in {r.key for r in data.train}
    assert data.labels_total == 12
    listed = {q.id: (q.by, q.reason) for q in data.counts.quarantined_rows}
    assert listed[300] == ("operator", "typo")
    assert listed[200][0] == "rule"


def test_gather_writes_nothing_when_the_rules_change_no_row() -> None:
    store = RecordingTrainingStore([stored(i, SEED_ROWS[i]) for i in range(30)])
    data = steps.gather(store, OPTIONS)  # type: ignore[arg-type]
    assert store.rule_changes == []
    assert len(data.train) == 30
    assert data.window == []


def test_fit_chooses_c_from_the_grid_and_fits_a_model_that_separates_the_seed(
    data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    assert fitted.cv.c in OPTIONS.c_grid
    assert fitted.summary.c_grid == [0.1, 1.0]
    assert fitted.summary.train_rows == len(data.train)
    assert fitted.summary.feedback_rows == len(data.window)
    truth = np.asarray([r.label for r in data.seed_holdout])
    assert np.mean(predict_rows(fitted.model, data.seed_holdout) == truth) > 0.95


def test_fit_refuses_rows_of_one_class() -> None:
    one_class = [r for r in SEED_ROWS[:200] if r.label == 0]
    with pytest.raises(TrainingDataError, match="two classes or more"):
        steps.fit(data_of(one_class, [], []), OPTIONS)


def test_evaluate_compares_on_the_window_only_when_a_champion_serves(
    data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    alone = steps.evaluate(
        data, fitted, steps.Champion(version=None, model=None, metrics=ArtifactMetrics()), 0, OPTIONS
    )
    assert alone.inputs.window is None
    assert alone.inputs.champion_seed is None
    assert alone.inputs.challenger_seed.rows == len(data.seed_holdout)
    assert len(alone.challenger_window) == len(data.window)

    reference = Reference(accuracy=0.9, errors=3, rows=30, source="recent_feedback")
    champion = steps.Champion(version="v1", model=fitted.model, metrics=ArtifactMetrics(reference=reference))
    paired = steps.evaluate(data, fitted, champion, 3, OPTIONS)
    assert paired.inputs.look == 3
    assert paired.inputs.window is not None
    assert list(paired.inputs.window.truth) == [r.label for r in data.window]
    assert paired.inputs.champion_reference == reference


def test_decide_promotes_a_first_model_and_leaves_the_next_target_to_the_settings(
    data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    nobody = steps.Champion(version=None, model=None, metrics=ArtifactMetrics())
    evidence = steps.evaluate(data, fitted, nobody, 0, OPTIONS)
    judgement = steps.decide(data, fitted, evidence, nobody, OPTIONS)
    assert judgement.promote
    assert judgement.champion is None
    assert judgement.labels_needed is None  # no test ran: SVMFLOW_RETRAIN_MIN_NEW_LABELS applies
    assert judgement.reference.source == "recent_feedback"  # the window has >= min_window rows
    assert judgement.reference.rows == len(data.window)
    assert judgement.reference_error == pytest.approx(1 - judgement.reference.accuracy)
    assert judgement.new_labels == data.labels_total


def test_decide_rejects_below_the_floor_and_keeps_the_champions_reference(
    data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    strict = replace(OPTIONS, policy=replace(OPTIONS.policy, accuracy_floor=1.01))
    reference = Reference(accuracy=0.8, errors=6, rows=30, source="recent_feedback")
    champion = steps.Champion(
        version="v1", model=fitted.model, metrics=ArtifactMetrics(reference=reference, labels_total=2)
    )
    evidence = steps.evaluate(data, fitted, champion, 1, strict)
    judgement = steps.decide(data, fitted, evidence, champion, strict)
    assert not judgement.promote
    assert "below the floor" in judgement.record.sentence
    assert judgement.champion is not None
    assert judgement.reference_error == pytest.approx(0.2)  # the champion still serves
    assert judgement.new_labels == data.labels_total - 2


def registry_at(tmp_path: Path) -> ModelRegistry:
    return ModelRegistry(LocalBucket(tmp_path / "bucket"))


def judged(data: steps.TrainingData, fitted: steps.Fitted) -> steps.Judgement:
    nobody = steps.Champion(version=None, model=None, metrics=ArtifactMetrics())
    return steps.decide(data, fitted, steps.evaluate(data, fitted, nobody, 0, OPTIONS), nobody, OPTIONS)


def test_store_saves_the_model_with_its_numbers_and_sets_the_next_targets(
    tmp_path: Path, data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    registry, rows = registry_at(tmp_path), RecordingTrainingStore()
    judgement = judged(data, fitted)
    nobody = steps.Champion(version=None, model=None, metrics=ArtifactMetrics())

    saved = steps.store("job-1", data, fitted, judgement, nobody, rows=rows, registry=registry)  # type: ignore[arg-type]

    assert rows.tests_counted == []  # no champion: no test to count
    assert rows.targets == [(None, judgement.reference_error)]
    metadata = registry.metadata(saved.version)
    assert metadata.job_id == "job-1"
    assert metadata.train_size == len(data.train)
    assert metadata.data_fingerprint == saved.data_fingerprint
    assert metadata.metrics.labels_total == data.labels_total
    assert metadata.metrics.record is not None
    assert metadata.metrics.record.verdict == "promoted"
    assert metadata.metrics.drift_reference is not None  # the drift monitor's reference profile
    assert registry.load(saved.version).to_bytes() == fitted.model.to_bytes()
    assert saved.artifact_uri == registry.uri(saved.version)
    assert registry.pointer() == (None, 0)  # storing is not promoting


def test_store_counts_a_test_against_the_champion(
    tmp_path: Path, data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    rows = RecordingTrainingStore()
    champion = steps.Champion(version="v1", model=fitted.model, metrics=ArtifactMetrics())
    judgement = judged(data, fitted)
    tested = replace(judgement, record=msgspec.structs.replace(judgement.record, tested=True))
    steps.store("job-2", data, fitted, tested, champion, rows=rows, registry=registry_at(tmp_path))  # type: ignore[arg-type]
    assert rows.tests_counted == ["v1"]


def test_promote_moves_the_pointer_only_for_a_promoted_model_that_won_the_race(
    tmp_path: Path, data: steps.TrainingData, fitted: steps.Fitted
) -> None:
    registry, rows = registry_at(tmp_path), RecordingTrainingStore()
    judgement = judged(data, fitted)
    nobody = steps.Champion(version=None, model=None, metrics=ArtifactMetrics())
    first = steps.store("job-a", data, fitted, judgement, nobody, rows=rows, registry=registry).version  # type: ignore[arg-type]
    second = steps.store("job-b", data, fitted, judgement, nobody, rows=rows, registry=registry).version  # type: ignore[arg-type]

    rejected = replace(judgement, record=msgspec.structs.replace(judgement.record, verdict="rejected"))
    assert steps.promote(registry, first, 0, rejected, None).decision == "rejected"
    assert registry.pointer() == (None, 0)

    won = steps.promote(registry, first, 0, judgement, None)
    assert (won.decision, won.now_serving) == ("promoted", first)
    pointer, _ = registry.pointer()
    assert pointer is not None
    assert pointer.version == first

    lost = steps.promote(registry, second, 0, judgement, None)  # read generation 0; it moved since
    assert lost.decision == "rejected"
    assert lost.reason == "another promotion moved the production pointer while this model trained"
    assert lost.now_serving == first
