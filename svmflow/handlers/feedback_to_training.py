"""feedback-to-training: turn ratings into training rows; ask for a retrain after enough new labels."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import update

from svmflow import topology
from svmflow.contracts import Feedback, TrainingRequest
from svmflow.db.database import Database
from svmflow.db.queries import feedback_row_count, predictions_for
from svmflow.db.tables import RetrainState, TrainingRow
from svmflow.domain.training import FEEDBACK, is_holdout, row_hash
from svmflow.handlers.feedback_to_db import corrected_label
from svmflow.ports import Publisher
from svmflow.runtime.processor import EventContext, publish

log = logging.getLogger(__name__)

CONSUMER = "feedback_to_training"


def handle(
    message: Feedback,
    context: EventContext,
    *,
    db: Database,
    publisher: Publisher,
    min_new_labels: int,
    holdout_percent: int,
) -> None:
    """Keyed by (batch_id, subject) for the rows and by event id for the trigger. The trigger is a
    compare-and-set on the debounce counter in the same transaction, and its request id is derived
    from the counter, so duplicate or concurrent deliveries ask for one training at most."""
    now = datetime.now(UTC)
    with db.transaction() as session:
        if not db.claim_event(session, CONSUMER, context.event_id):
            return
        _, predictions = predictions_for(session, message.batch_id, message.subjects)
        rows = []
        for subject, rating in zip(message.subjects, message.ratings, strict=True):
            prediction = predictions[subject]
            digest = row_hash(prediction.features)
            rows.append(
                {
                    "source": FEEDBACK,
                    "source_key": f"{message.batch_id}/{subject}",
                    "features": prediction.features,
                    "label": corrected_label(prediction.label, rating),
                    "row_hash": digest,
                    "holdout": is_holdout(digest, holdout_percent),
                    "labelled_at": message.rated_at,
                    "created_at": now,
                }
            )
        statement = db.insert(TrainingRow)
        session.connection().execute(
            statement.on_conflict_do_update(
                index_elements=["source", "source_key"],
                set_={
                    "label": statement.excluded.label,
                    "labelled_at": statement.excluded.labelled_at,
                },
                where=TrainingRow.labelled_at < statement.excluded.labelled_at,
            ),
            rows,
        )
        request = _claim_trigger(db, session, min_new_labels, now)
        if request is not None:
            # Published before the commit: if the commit then fails, the redelivery asks again with
            # the same request id, and the training function runs it once.
            publish(publisher, topology.TRAINING_REQUESTS, request, traceparent=context.traceparent)
            log.info("training requested", extra={"request_id": request.request_id})


def _claim_trigger(db: Database, session, min_new_labels: int, now: datetime) -> TrainingRequest | None:  # type: ignore[no-untyped-def]
    db.insert_ignore(
        session,
        RetrainState,
        [{"id": 1, "labels_at_last_request": 0, "last_request_id": None, "updated_at": now}],
    )
    state = session.get(RetrainState, 1)
    assert state is not None
    total = feedback_row_count(session)
    new_labels = total - state.labels_at_last_request
    if new_labels < min_new_labels:
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
            .values(labels_at_last_request=total, last_request_id=request_id, updated_at=now)
        )
        .rowcount
    )
    if claimed != 1:
        return None
    return TrainingRequest(request_id=request_id, reason="labels", requested_at=now, new_labels=new_labels)
