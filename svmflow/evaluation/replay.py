"""Drives the real pipeline, in embedded mode, through a scenario.

Everything goes through the durable bus and every processor, exactly as in ``svmflow run``: a batch is
published as a prediction request, the read model is polled for its labels, the ratings are published
as feedback, and feedback-to-training asks for retraining on its own; the gate decides. The replay only
observes: the version that served each batch (from the read model) and the decisions of the training
jobs (from the read model's job list), then scores every model against the truth.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fakeredis
import numpy as np
from numpy.typing import NDArray

from svmflow import operations, topology
from svmflow.bootstrap import Container
from svmflow.config import Settings
from svmflow.contracts import Feedback, PredictionRequest
from svmflow.domain.linear_model import LinearModel
from svmflow.domain.training import read_seed_csv
from svmflow.evaluation.data import Split, all_features, split, write_csv
from svmflow.evaluation.drift import Drift, Features, Labels
from svmflow.evaluation.feedback import FeedbackPolicy
from svmflow.evaluation.oracle import Oracle
from svmflow.evaluation.scenario import OUTLIER_VALUE, Scenario
from svmflow.messaging import publish

DRAIN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class JobRecord:
    batch: int  # the batch whose feedback asked for this training; -1 for the first model
    job_id: str
    decision: str
    reason: str
    candidate_version: str | None
    serving_after: str | None
    seed_holdout_accuracy: float | None
    feedback_holdout_accuracy: float | None
    feedback_holdout_size: int
    new_labels: int
    window_rows: int = 0
    p_value: float | None = None


@dataclass(frozen=True)
class BatchRecord:
    index: int
    drifted: bool
    served_by: str
    rows: int
    batch_accuracy: float  # the labels this batch actually got, against its truth
    truth_accuracy: float  # the serving model on the truth set, as the world is at this batch
    rated_wrong: int  # ratings that said "wrong" (whatever the policy)
    jobs: list[JobRecord] = field(default_factory=list)
    rated: bool = True
    never_accuracy: float = 0.0  # the first model, never retrained, on the same truth
    oracle_accuracy: float = 0.0  # a model retrained before this batch on every true label so far


@dataclass(frozen=True)
class VersionRecord:
    version: str
    batch: int  # decided after this batch's feedback (-1: the first model)
    decision: str
    seed_holdout_accuracy: float | None  # the gate's trusted measure
    truth_before: float  # accuracy on the truth set without the drift
    truth_after: float  # ... and as the world is at the last batch (equal without a drift)


@dataclass
class Result:
    scenario: Scenario
    gate: dict[str, Any]
    drift: str
    data: dict[str, int]
    first_version: str
    final_version: str  # in production when the replay ended
    batches: list[BatchRecord]
    versions: list[VersionRecord]
    dead_letters: int
    elapsed_seconds: float

    @property
    def jobs(self) -> list[JobRecord]:
        return [job for batch in self.batches for job in batch.jobs]

    def version(self, name: str) -> VersionRecord:
        return next(v for v in self.versions if v.version == name)


def evaluation_settings(settings: Settings, state_dir: Path) -> Settings:
    """The caller's gate and retraining settings, on a private embedded state.

    Models are looked up on every prediction (no refresh delay): the replay runs much faster than
    real time, and each batch should meet the model that production would serve by then.
    """
    return settings.with_(
        mode="embedded",
        state_dir=state_dir,
        database_url="",
        redis_url="",
        storage_endpoint="",
        model_refresh_seconds=0.0,
    )


def run(
    scenario: Scenario,
    settings: Settings,
    state_dir: Path | None = None,
    progress: Callable[[BatchRecord], None] | None = None,
) -> Result:
    """Replay ``scenario`` on a fresh state (a temporary one unless ``state_dir`` is given)."""
    if state_dir is None:
        with tempfile.TemporaryDirectory(prefix="svmflow-eval-") as tmp:
            return run(scenario, settings, Path(tmp), progress)
    if state_dir.exists() and any(state_dir.iterdir()):
        raise ValueError(f"{state_dir} is not empty; a replay needs a fresh state")
    started = time.perf_counter()
    data = split(read_seed_csv(settings.data_path))
    container = Container(
        evaluation_settings(settings, state_dir),
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
    )
    bus = container.bus
    container.subscribe_all(bus)
    bus.start(workers=4)
    try:
        replay = _Replay(scenario, container, data)
        replay.start()
        for index in range(scenario.batches):
            record = replay.batch(index)
            if progress is not None:
                progress(record)
        dead_letters = len(bus.list_dead_letters())
        versions = replay.versions()
        pointer, _ = container.registry.pointer()
    finally:
        bus.stop()
    s = container.settings
    return Result(
        scenario=scenario,
        gate={
            "accuracy_floor": s.gate_accuracy_floor,
            "metric": s.gate_metric,
            "alpha": s.gate_alpha,
            "window": s.gate_window,
            "min_window": s.gate_min_window,
            "seed_tolerance": s.gate_seed_tolerance,
            "recall_floor": s.gate_recall_floor,
            "margin": s.gate_margin,
            "retrain_min_new_labels": s.retrain_min_new_labels,
            "feedback_weight": s.feedback_weight,
            "holdout_percent": s.holdout_percent,
        },
        drift=replay.drift.describe(),
        data={"seed": len(data.seed), "stream": len(data.stream_y), "truth": len(data.truth_y)},
        first_version=replay.first_version,
        final_version=pointer.version if pointer else "",
        batches=replay.records,
        versions=versions,
        dead_letters=dead_letters,
        elapsed_seconds=round(time.perf_counter() - started, 2),
    )


class _Replay:
    def __init__(self, scenario: Scenario, container: Container, data: Split) -> None:
        self.scenario = scenario
        self.container = container
        self.data = data
        self.drift = Drift(scenario, all_features(data))
        # Separate generators, so the batches are the same whatever the feedback policy draws.
        self.batch_rng = np.random.default_rng([scenario.seed, 0])
        self.rated_rng = np.random.default_rng([scenario.seed, 2])
        median = float(np.median(all_features(data)[:, 0]))
        self.feedback = FeedbackPolicy(scenario, np.random.default_rng([scenario.seed, 1]), median)
        self.pick_weights = _class_weights(data.stream_y, scenario.minority_share)
        self.truth_x, self.truth_y = _truth_subset(data, scenario.minority_share)
        self.oracle = Oracle(data.seed, settings=container.settings)
        self.records: list[BatchRecord] = []
        self.first_version = ""
        self._jobs: list[JobRecord] = []
        self._seen_jobs: set[str] = set()
        self._models: dict[str, LinearModel] = {}

    def start(self) -> None:
        """Seed the pipeline with the seed part only, and train the first model."""
        seed_csv = write_csv(self.data.seed, self.container.settings.state_dir / "seed.csv")
        operations.seed(self.container, seed_csv)
        event = operations.train(self.container, reason="manual")
        if event is None or event.decision != "promoted" or event.current_version is None:
            raise RuntimeError(f"the first model was not promoted: {event}")
        self.container.bus.drain(DRAIN_TIMEOUT_SECONDS)
        self.first_version = event.current_version
        self._new_jobs(batch=-1)

    def batch(self, index: int) -> BatchRecord:
        scenario, bus, read_model = self.scenario, self.container.bus, self.container.read_model
        size = min(scenario.batch_size, int(np.count_nonzero(self.pick_weights)))
        pick = self.batch_rng.choice(len(self.data.stream_y), size=size, replace=False, p=self.pick_weights)
        features, truth = self.data.stream_x[pick], self.data.stream_y[pick]
        drifted = scenario.drifted(index)
        features, truth = self.drift.apply(features, truth, index)
        sent = features.copy()
        if index == scenario.outlier_at:
            sent[0, 0] = OUTLIER_VALUE  # a broken sensor; the row's truth and the truth set are unchanged
        batch_id = f"{scenario.name}-{index:04d}"
        subjects = [f"row-{int(i)}" for i in pick]
        request = PredictionRequest(
            batch_id=batch_id,
            subjects=subjects,
            features=sent.tolist(),
            submitted_at=datetime.now(UTC),
        )
        publish(self.container.publisher, topology.PREDICTION_REQUESTS, request, batch_id=batch_id)
        bus.drain(DRAIN_TIMEOUT_SECONDS)
        view = read_model.get_batch(batch_id)
        if view is None or view.status != "done" or view.model_version is None:
            raise RuntimeError(f"batch {batch_id} was not predicted: {view}")
        labels = {r.subject: r.label for r in view.results}
        predicted = np.asarray([labels[s] for s in subjects], dtype=np.int64)
        ratings = self.feedback.ratings(predicted, truth, features)
        rated = index == 0 or self.rated_rng.random() < scenario.rated_share
        if rated:
            # The whole batch is rated, so the ratings are an unbiased sample of the model's answers.
            feedback = Feedback(
                batch_id=batch_id,
                subjects=subjects,
                ratings=ratings,
                rated_at=datetime.now(UTC),
                kind="sample",
                labelled_by="evaluation",
            )
            publish(self.container.publisher, topology.FEEDBACK, feedback, batch_id=batch_id)
            bus.drain(DRAIN_TIMEOUT_SECONDS)
        truth_x, truth_y = self.truth_set(index)
        record = BatchRecord(
            index=index,
            drifted=drifted,
            served_by=view.model_version,
            rows=size,
            batch_accuracy=float(np.mean(predicted == truth)),
            truth_accuracy=self.truth_accuracy(view.model_version, index),
            rated_wrong=len(ratings) - sum(ratings) if rated else 0,
            jobs=self._new_jobs(index),
            rated=rated,
            never_accuracy=self.truth_accuracy(self.first_version, index),
            oracle_accuracy=self.oracle.accuracy(truth_x, truth_y),
        )
        # The oracle learns every true label of this batch before the next one.
        self.oracle.learn(features, truth)
        self.records.append(record)
        return record

    def _new_jobs(self, batch: int) -> list[JobRecord]:
        """Jobs that finished since the last look, oldest first, as the read model reports them."""
        fresh = [j for j in self.container.read_model.jobs(limit=1000) if j.job_id not in self._seen_jobs]
        fresh.sort(key=lambda j: j.finished_at)
        jobs = []
        for job in fresh:
            self._seen_jobs.add(job.job_id)
            challenger = job.challenger
            jobs.append(
                JobRecord(
                    batch=batch,
                    job_id=job.job_id,
                    decision=job.decision,
                    reason=job.reason,
                    candidate_version=job.candidate_version,
                    serving_after=job.current_version,
                    seed_holdout_accuracy=challenger.seed_holdout_accuracy if challenger else None,
                    feedback_holdout_accuracy=challenger.feedback_holdout_accuracy if challenger else None,
                    feedback_holdout_size=challenger.feedback_holdout_size if challenger else 0,
                    new_labels=job.new_labels,
                    window_rows=job.record.window_rows if job.record else 0,
                    p_value=job.record.p_value if job.record else None,
                )
            )
        self._jobs.extend(jobs)
        return jobs

    def model(self, version: str) -> LinearModel:
        if version not in self._models:
            self._models[version] = self.container.registry.load(version)
        return self._models[version]

    def truth_set(self, batch: int) -> tuple[Features, Labels]:
        """The truth set as the world is at ``batch`` (-1: before any drift)."""
        return self.drift.apply(self.truth_x, self.truth_y, batch)

    def truth_accuracy(self, version: str, batch: int) -> float:
        features, labels = self.truth_set(batch)
        predicted, _ = self.model(version).predict(features)
        return float(np.mean(predicted == labels))

    def versions(self) -> list[VersionRecord]:
        """Every model the replay trained, scored on the truth before and after the drift."""
        last = self.scenario.batches - 1
        return [
            VersionRecord(
                version=job.candidate_version,
                batch=job.batch,
                decision=job.decision,
                seed_holdout_accuracy=job.seed_holdout_accuracy,
                truth_before=self.truth_accuracy(job.candidate_version, -1),
                truth_after=self.truth_accuracy(job.candidate_version, last),
            )
            for job in self._jobs
            if job.candidate_version is not None
        ]


def _class_weights(labels: Labels, minority_share: float) -> NDArray[np.float64]:
    """Sampling probabilities for stream rows: uniform, or class 1 at ``minority_share`` of the draws."""
    if minority_share <= 0:
        return np.full(len(labels), 1.0 / len(labels))
    ones = labels == 1
    weights: NDArray[np.float64] = np.where(
        ones, minority_share / ones.sum(), (1 - minority_share) / (~ones).sum()
    )
    return weights / float(weights.sum())


def _truth_subset(data: Split, minority_share: float) -> tuple[Features, Labels]:
    """The truth set, or a part of it with the scenario's class balance (every class-0 row, and the
    first class-1 rows up to the share), so accuracy is measured on the world the stream comes from."""
    if minority_share <= 0:
        return data.truth_x, data.truth_y
    zeros = np.flatnonzero(data.truth_y == 0)
    ones = np.flatnonzero(data.truth_y == 1)
    keep = max(1, round(len(zeros) * minority_share / (1 - minority_share)))
    chosen = np.sort(np.r_[zeros, ones[:keep]])
    return data.truth_x[chosen], data.truth_y[chosen]
