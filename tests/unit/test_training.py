from __future__ import annotations

from pathlib import Path

from svmflow.domain.training import (
    FEEDBACK,
    SEED,
    LabelledRow,
    accuracy,
    data_fingerprint,
    fit,
    is_holdout,
    read_seed_csv,
    row_hash,
)

DATA = Path(__file__).resolve().parents[2] / "data" / "banknote.csv"


def split(rows: list[LabelledRow], percent: int = 20) -> tuple[list[LabelledRow], list[LabelledRow]]:
    train = [r for r in rows if not is_holdout(row_hash(r.features), percent)]
    holdout = [r for r in rows if is_holdout(row_hash(r.features), percent)]
    return train, holdout


def test_duplicates_land_on_the_same_side() -> None:
    rows = read_seed_csv(DATA)
    train, holdout = split(rows)
    train_keys = {r.features for r in train}
    assert not any(r.features in train_keys for r in holdout)
    # The data set has 24 exact duplicates; check some exist, so the assertion above means something.
    assert len({r.features for r in rows}) < len(rows)


def test_split_is_deterministic_and_about_the_requested_size() -> None:
    rows = read_seed_csv(DATA)
    first, second = split(rows), split(rows)
    assert [r.key for r in first[1]] == [r.key for r in second[1]]
    assert 0.15 < len(first[1]) / len(rows) < 0.25


def test_initial_model_clears_98_percent_on_the_holdout() -> None:
    train, holdout = split(read_seed_csv(DATA))
    accuracy_on_holdout = accuracy(fit(train), holdout)
    assert accuracy_on_holdout is not None
    assert accuracy_on_holdout >= 0.98


def test_feedback_weight_pulls_the_boundary() -> None:
    rows = read_seed_csv(DATA)
    flipped = [LabelledRow(FEEDBACK, f"f{i}", r.features, 1 - r.label) for i, r in enumerate(rows[:200])]
    light = accuracy(fit(rows + flipped, feedback_weight=0.01), flipped)
    heavy = accuracy(fit(rows + flipped, feedback_weight=20.0), flipped)
    assert light is not None
    assert heavy is not None
    assert heavy > light


def test_fingerprint_ignores_order_but_not_labels() -> None:
    rows = read_seed_csv(DATA)[:50]
    assert data_fingerprint(rows) == data_fingerprint(list(reversed(rows)))
    relabelled = [LabelledRow(SEED, rows[0].key, rows[0].features, 1 - rows[0].label), *rows[1:]]
    assert data_fingerprint(relabelled) != data_fingerprint(rows)
