"""The read model's views: what the projector stores is what the APIs serve, field for field."""

from __future__ import annotations

from datetime import UTC, datetime

import fakeredis
import msgspec

from svmflow.contracts import Evaluation, ModelEvent
from svmflow.domain.records import QuarantinedRow, RowCounts
from svmflow.read_model import ReadModel
from svmflow.views import (
    CurrentModelView,
    JobView,
    ModelVersionView,
    TrainingRowsView,
    current_model_view,
    job_view,
    model_version_view,
    training_rows_view,
)

FINISHED = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
EVALUATION = Evaluation(
    seed_holdout_accuracy=0.9123,
    seed_holdout_size=200,
    feedback_holdout_accuracy=None,
    feedback_holdout_size=0,
)


def event(decision: str, *, current: str = "v2", challenger: Evaluation | None = EVALUATION) -> ModelEvent:
    return ModelEvent(
        job_id="job-1",
        request_id="request-1",
        decision=decision,  # type: ignore[arg-type]
        reason="why",
        candidate_version="v2",
        current_version=current,
        previous_version="v1",
        challenger=challenger,
        n_features=4,
        feature_names=["a", "b", "c", "d"],
        finished_at=FINISHED,
        rows=RowCounts(
            seed=8,
            feedback=2,
            sample=1,
            quarantined=1,
            quarantined_rows=[
                QuarantinedRow(
                    id=1,
                    source="seed",
                    batch_id=None,
                    subject="s",
                    features=[0.5],
                    label=1,
                    by="rule",
                    reason="r",
                )
            ],
        ),
    )


def test_a_job_is_listed_as_the_event_that_was_published() -> None:
    promoted = event("promoted")
    assert msgspec.json.encode(job_view(promoted)) == msgspec.json.encode(promoted)


def test_times_keep_the_offset_the_listing_has_always_served() -> None:
    assert model_version_view(event("promoted")).created_at == "2026-01-02T03:04:05.123456+00:00"
    assert current_model_view(event("promoted"), None).since == "2026-01-02T03:04:05.123456+00:00"


def test_a_rollback_serves_the_figures_of_the_version_it_returns_to() -> None:
    known = model_version_view(event("promoted"))
    rolled_back = event("rolled_back", current="v2", challenger=None)
    view = current_model_view(rolled_back, known)
    assert (view.decision, view.evaluation, view.n_features) == ("rolled_back", EVALUATION, 4)
    assert current_model_view(rolled_back, None).evaluation is None


def test_every_view_reads_back_to_the_bytes_it_was_stored_as() -> None:
    promoted = event("promoted")
    assert promoted.rows is not None
    for view, kind in (
        (job_view(promoted), JobView),
        (model_version_view(promoted), ModelVersionView),
        (current_model_view(promoted, None), CurrentModelView),
        (training_rows_view(promoted, promoted.rows), TrainingRowsView),
    ):
        stored = msgspec.json.encode(view)
        assert msgspec.json.encode(msgspec.json.decode(stored, type=kind)) == stored


def test_the_training_rows_view_adds_when_and_by_which_job() -> None:
    promoted = event("promoted")
    assert promoted.rows is not None
    served = msgspec.json.decode(msgspec.json.encode(training_rows_view(promoted, promoted.rows)))
    assert list(served)[-2:] == ["as_of", "job_id"]
    assert (served["seed"], served["job_id"], served["quarantined_rows"][0]["by"]) == (8, "job-1", "rule")


def test_a_version_stored_before_the_view_gained_fields_reads_back_and_is_served_as_stored() -> None:
    read_model = ReadModel(fakeredis.FakeRedis(server=fakeredis.FakeServer()), "t:")
    # As the first release stored it: no feature count or names, no decision record, no training.
    stored = msgspec.json.encode(
        {
            "version": "v0",
            "decision": "promoted",
            "reason": "first",
            "job_id": "job-0",
            "created_at": "2026-01-01T00:00:00+00:00",
            "artifact_uri": None,
            "data_fingerprint": None,
            "train_size": 10,
            "evaluation": msgspec.to_builtins(EVALUATION),
            "champion_evaluation": None,
            "new_labels": 0,
        }
    )
    read_model.client.hset("t:models:data", "v0", stored)
    read_model.client.zadd("t:models", {"v0": 1.0})
    read_model.put_model_version(model_version_view(event("promoted")), FINISHED)
    assert read_model.model_versions_json() == [
        msgspec.json.encode(model_version_view(event("promoted"))),
        stored,
    ]
    [_, old] = read_model.model_versions()
    assert (old.version, old.evaluation, old.decision_record, old.feedback_rows) == (
        "v0",
        EVALUATION,
        None,
        0,
    )
