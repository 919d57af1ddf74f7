"""feedback-to-training: turn ratings into training rows; ask for a retrain once enough new labels came.

Label hygiene: a feedback row is keyed by its feature vector, so a vector has one label. A rating that
changes a known vector's label replaces it and counts as a new label; the same vector rated again with
the same label (in this batch or another) is neither a new row nor a new label.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from svmflow import topology
from svmflow.contracts import Feedback, TrainingRequest
from svmflow.db.database import Database, as_utc
from svmflow.db.queries import initial_retrain_state, predictions_for
from svmflow.db.tables import RetrainState, TrainingRow
from svmflow.domain.drift_signal import drifted
from svmflow.domain.training import FEEDBACK, SAMPLE, is_holdout, row_hash
from svmflow.handlers.feedback_to_db import corrected_label
from svmflow.messaging import EventContext, publish
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel
from svmflow.views import TrainingLabel

log = logging.getLogger(__name__)

CONSUMER = "feedback_to_training"
REPLACED_ON_RELABEL = ("label", "labelled_at", "kind", "batch_id", "subject", "labelled_by")


def handle(
    message: Feedback,
    context: EventContext,
    *,
    db: Database,
    publisher: Publisher,
    min_new_labels: int,
    holdout_percent: int,
    max_wait_seconds: float = 0.0,
    read_model: ReadModel | None = None,
) -> None:
    """Keyed by the feature vector for the rows and by event id for the trigger. The trigger is a
    compare-and-set on the debounce counter in the same transaction, and its request id is derived
    from the counter, so duplicate or concurrent deliveries ask for one training at most."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        if not db.claim_event(session, CONSUMER, context.event_id):
            return
        _, predictions = predictions_for(session, message.batch_id, message.subjects)
        incoming: dict[str, dict[str, Any]] = {}
        for subject, rating in zip(message.subjects, message.ratings, strict=True):
            prediction = predictions[subject]
            digest = row_hash(prediction.features)
            incoming[digest] = {
                "source": FEEDBACK,
                "source_key": digest,
                "features": prediction.features,
                "label": corrected_label(prediction.label, rating),
                "row_hash": digest,
                "holdout": is_holdout(digest, holdout_percent),
                "labelled_at": message.rated_at,
                "created_at": now,
                "kind": message.kind,
                "batch_id": message.batch_id,
                "subject": subject,
                "labelled_by": message.labelled_by,
                "label_changes": 0,
                "status": "active",
            }
        new_labels = _store(db, session, incoming)
        if read_model is not None:
            # Before the commit, like the trigger below: should the commit fail, the redelivery
            # writes the rows and records them again (the record is idempotent).
            read_model.put_training_labels(
                message.batch_id,
                [
                    TrainingLabel(
                        subject=subject,
                        label=corrected_label(predictions[subject].label, rating),
                        rated_at=message.rated_at,
                        reached_at=now,
                    )
                    for subject, rating in zip(message.subjects, message.ratings, strict=True)
                ],
            )
        rated = len(message.ratings) if message.kind == SAMPLE else 0
        wrong = sum(1 for r in message.ratings if r == 0) if rated else 0
        request = _claim_trigger(
            db, session, new_labels, (rated, wrong), min_new_labels, max_wait_seconds, now
        )
        if request is not None:
            # Published before the commit: if the commit then fails, the redelivery asks again with
            # the same request id, and the training function runs it once.
            publish(publisher, topology.TRAINING_REQUESTS, request, traceparent=context.traceparent)
            log.info("training requested", extra={"request_id": request.request_id})


def _store(db: Database, session: Any, incoming: dict[str, dict[str, Any]]) -> int:
    """Insert new vectors, replace changed labels; the number of new labels."""
    if not incoming:
        return 0
    known = {
        row.source_key: row
        for row in session.execute(
            select(
                TrainingRow.id,
                TrainingRow.source_key,
                TrainingRow.label,
                TrainingRow.labelled_at,
                TrainingRow.kind,
                TrainingRow.label_changes,
            ).where(TrainingRow.source == FEEDBACK, TrainingRow.source_key.in_(list(incoming)))
        )
    }
    fresh = [row for key, row in incoming.items() if key not in known]
    new_labels = 0
    if fresh:
        # A concurrent delivery may insert the same vector first: its label stands, ours is skipped.
        db.insert_ignore(session, TrainingRow, fresh)
        new_labels += len(fresh)
    for key, row in incoming.items():
        old = known.get(key)
        if old is None or as_utc(old.labelled_at) > row["labelled_at"]:
            continue  # new (done above), or an older rating that arrived late
        if old.label != row["label"]:
            changes = {name: row[name] for name in REPLACED_ON_RELABEL}
            changes["label_changes"] = old.label_changes + 1
            session.execute(update(TrainingRow).where(TrainingRow.id == old.id).values(**changes))
            new_labels += 1
        elif old.kind != SAMPLE and row["kind"] == SAMPLE:
            # The same label confirmed by an unbiased rating: from now on it is evidence too.
            session.execute(update(TrainingRow).where(TrainingRow.id == old.id).values(kind=SAMPLE))
    return new_labels


def _claim_trigger(
    db: Database,
    session: Session,
    new_labels: int,
    ratings: tuple[int, int],
    min_new_labels: int,
    max_wait_seconds: float,
    now: datetime,
) -> TrainingRequest | None:
    """Ask for a training when enough new labels arrived for the next test (``labels_needed``), when
    the unbiased ratings since the last request show drift, or when any new label has waited
    ``max_wait_seconds``."""
    db.insert_ignore(session, RetrainState, [initial_retrain_state(now)])
    rated, wrong = ratings
    if new_labels or rated:
        session.execute(
            update(RetrainState)
            .where(RetrainState.id == 1)
            .values(
                labels_total=RetrainState.labels_total + new_labels,
                sample_rated=RetrainState.sample_rated + rated,
                sample_wrong=RetrainState.sample_wrong + wrong,
            )
        )
    state = session.get(RetrainState, 1)
    session.refresh(state)
    assert state is not None
    total = state.labels_total
    pending = total - state.labels_at_last_request
    needed = state.labels_needed or min_new_labels
    waited = now - as_utc(state.updated_at)
    overdue = max_wait_seconds > 0 and waited >= timedelta(seconds=max_wait_seconds)
    drift = drifted(state.sample_wrong, state.sample_rated, state.reference_error)
    if pending <= 0 or (pending < needed and not overdue and not drift):
        return None
    request_id = f"labels-{total}"
    claimed = (
        session.connection()
        .execute(
            update(RetrainState)
            .where(
                RetrainState.id == 1,
                RetrainState.labels_at_last_request == state.labels_at_last_request,
            )
            .values(
                labels_at_last_request=total,
                last_request_id=request_id,
                updated_at=now,
                sample_rated=0,
                sample_wrong=0,
            )
        )
        .rowcount
    )
    if claimed != 1:
        return None
    return TrainingRequest(request_id=request_id, reason="labels", requested_at=now, new_labels=pending)
