"""drift-monitor: each model version's live inputs, window by window, against its training data.

Every predictions message adds its records to the open window of the version that predicted them.
A window that fills is assessed against the reference profile stored with the version's artifact
(``svmflow.domain.drift``: a mean-shift and a KS test per feature, PSI reported) and recorded in
Postgres; the version's figures are then projected into the read model. A drifted window raises an
alarm: an event on ``drift-events``, a log line with ``"event": "input_drift"`` (which a log-based
metric and an alert policy in infra/monitoring.tf pick up) and, when enabled, a retraining request.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from svmflow import topology
from svmflow.contracts import DriftEvent, Predictions, TrainingRequest
from svmflow.db import drift as drift_db
from svmflow.db.database import Database
from svmflow.domain.drift import ReferenceProfile, assess
from svmflow.domain.drift_windows import cut, figures, finite_rows
from svmflow.errors import ModelNotFoundError
from svmflow.messaging import EventContext, publish
from svmflow.model_registry import ModelRegistry
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel

log = logging.getLogger(__name__)

CACHED_PROFILES = 16
# The log line's "event": the log-based metric of the alert in infra/monitoring.tf filters on it.
ALERT_EVENT = "input_drift"


@dataclass(frozen=True)
class DriftOptions:
    window_size: int
    alpha: float
    retrain: bool = False


class ReferenceProfiles:
    """Each version's reference profile, read from its artifact's metadata once per process. A
    version trained before profiles were stored has none: its inputs are not monitored."""

    def __init__(self, registry: ModelRegistry) -> None:
        self.registry = registry
        self._lock = threading.Lock()
        self._profiles: dict[str, ReferenceProfile | None] = {}

    def of(self, version: str) -> ReferenceProfile | None:
        with self._lock:
            if version in self._profiles:
                return self._profiles[version]
        try:
            profile = self.registry.metadata(version).metrics.drift_reference
        except ModelNotFoundError:
            profile = None
        if profile is None:
            log.warning("model %s has no reference profile; its inputs are not monitored for drift", version)
        with self._lock:
            if len(self._profiles) >= CACHED_PROFILES:
                self._profiles.pop(next(iter(self._profiles)))
            self._profiles[version] = profile
        return profile


def handle(
    message: Predictions,
    context: EventContext,
    *,
    db: Database,
    read_model: ReadModel,
    publisher: Publisher,
    drift_references: ReferenceProfiles,
    drift_options: DriftOptions,
) -> None:
    """Keyed by (model version, batch id): a batch is counted once in its version's windows however
    often its predictions are delivered or published. Alarms are published before the commit, so a
    failed commit raises them again on the redelivery with the same event id (consumers drop the
    duplicate); the projection is written again on every delivery and the newest revision wins."""
    version = message.model_version
    profile = drift_references.of(version)
    if profile is None:
        return
    width = len(profile.features)
    rows = finite_rows(message.features, width)
    if len(rows) < len(message.features):
        log.warning(
            "%d of %d records left out of the drift windows: not %d finite values",
            len(message.features) - len(rows),
            len(message.features),
            width,
            extra={"model_version": version},
        )
    now = datetime.now(UTC)
    with db.transaction() as session:
        if drift_db.claim_batch(db, session, version, message.batch_id, now):
            state = drift_db.locked_state(db, session, version, drift_options.window_size, now)
            state.window_size = drift_options.window_size
            latest = drift_db.load(session, version)
            was_drifted = latest is not None and latest.drifted
            closed, still_open = cut(state.open_rows, rows, drift_options.window_size)
            for window_rows in closed:
                report = assess(profile, np.asarray(window_rows, dtype=np.float64), drift_options.alpha)
                figures_now = figures(report)
                number = drift_db.close_window(
                    session,
                    state,
                    rows=report.rows,
                    alpha=report.alpha,
                    drifted_features=report.drifted_features,
                    features=figures_now,
                    reference_rows=profile.rows,
                    now=now,
                )
                if report.drifted:
                    alarm = DriftEvent(
                        event_id=f"{version}/{number}",
                        model_version=version,
                        window=number,
                        window_size=report.rows,
                        alpha=report.alpha,
                        drifted_features=report.drifted_features,
                        features=figures_now,
                        detected_at=now,
                    )
                    _raise_alarm(alarm, publisher, context, retrain=drift_options.retrain and not was_drifted)
                was_drifted = report.drifted
            drift_db.keep_open(state, still_open, now)
            session.flush()
        view = drift_db.load(session, version)
    if view is not None:
        read_model.put_drift(view)


def _raise_alarm(alarm: DriftEvent, publisher: Publisher, context: EventContext, *, retrain: bool) -> None:
    """The event, the alert's log line and, at the onset of drift when enabled, a retraining."""
    publish(publisher, topology.DRIFT_EVENTS, alarm, traceparent=context.traceparent)
    log.warning(
        "input drift: model %s, window %d: %s",
        alarm.model_version,
        alarm.window,
        ", ".join(alarm.drifted_features),
        extra={
            "event": ALERT_EVENT,
            "model_version": alarm.model_version,
            "window": alarm.window,
            "window_size": alarm.window_size,
            "features": alarm.drifted_features,
            "p_values": {f.name: f.p_value for f in alarm.features if f.drifted},
        },
    )
    if retrain:
        request = TrainingRequest(
            request_id=f"drift-{alarm.model_version}-{alarm.window}",
            reason="drift",
            requested_at=alarm.detected_at,
        )
        publish(publisher, topology.TRAINING_REQUESTS, request, traceparent=context.traceparent)
        log.info("training requested on input drift", extra={"request_id": request.request_id})
