"""The read model's record of which ratings reached the training data: per batch and subject, the
newest rating wins, and a redelivery changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fakeredis

from svmflow.read_model import ReadModel, TrainingLabel

RATED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def read_model() -> ReadModel:
    return ReadModel(fakeredis.FakeRedis(server=fakeredis.FakeServer()), "t:", ttl_seconds=60)


def label(subject: str, value: int, rated_at: datetime, reached_at: datetime | None = None) -> TrainingLabel:
    return TrainingLabel(subject=subject, label=value, rated_at=rated_at, reached_at=reached_at or rated_at)


def test_an_unrated_batch_has_no_training_labels() -> None:
    assert read_model().training_labels("b") == []


def test_labels_are_listed_by_subject_per_batch() -> None:
    model = read_model()
    model.put_training_labels("b", [label("s2", 0, RATED), label("s1", 1, RATED)])
    model.put_training_labels("other", [label("s9", 1, RATED)])
    assert [(e.subject, e.label) for e in model.training_labels("b")] == [("s1", 1), ("s2", 0)]


def test_a_newer_rating_replaces_an_older_one_and_not_the_reverse() -> None:
    model = read_model()
    later = RATED + timedelta(minutes=5)
    model.put_training_labels("b", [label("s1", 1, RATED)])
    model.put_training_labels("b", [label("s1", 0, later)])
    model.put_training_labels("b", [label("s1", 1, RATED)])  # the older rating, redelivered late
    (entry,) = model.training_labels("b")
    assert (entry.label, entry.rated_at) == (0, later)


def test_a_redelivery_leaves_the_entry_as_it_was() -> None:
    model = read_model()
    model.put_training_labels("b", [label("s1", 1, RATED, RATED + timedelta(seconds=1))])
    model.put_training_labels("b", [label("s1", 1, RATED, RATED + timedelta(seconds=9))])
    (entry,) = model.training_labels("b")
    assert entry.reached_at == RATED + timedelta(seconds=1)


def test_the_record_expires_with_the_batch() -> None:
    model = read_model()
    model.put_training_labels("b", [label("s1", 1, RATED)])
    assert 0 < model.client.ttl("t:training-labels:b") <= 60
    assert 0 < model.client.ttl("t:training-labels:b:rank") <= 60
