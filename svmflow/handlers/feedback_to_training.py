"""feedback-to-training: turn ratings into training rows; ask for a retrain once enough new labels came.

Label hygiene: a feedback row is keyed by its feature vector, so a vector has one label. A rating that
changes a known vector's label replaces it and counts as a new label; the same vector rated again with
the same label (in this batch or another) is neither a new row nor a new label.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from svmflow import topology
from svmflow.contracts import Feedback, TrainingRequest
from svmflow.db.database import Database
from svmflow.db.stores.labels import LabelStore, feedback_rows
from svmflow.db.tables import Prediction
from svmflow.domain.retrain_trigger import labels_pending, sample_ratings
from svmflow.messaging import EventContext, publish
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel
from svmflow.views import TrainingLabel

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
    max_wait_seconds: float = 0.0,
    read_model: ReadModel | None = None,
) -> None:
    """Keyed by the feature vector for the rows and by event id for the trigger. The trigger is a
    compare-and-set on the debounce counter in the same transaction, and its request id is derived
    from the counter, so duplicate or concurrent deliveries ask for one training at most.

    A training is asked for when enough new labels arrived for the next test (``labels_needed``), when
    the unbiased ratings since the last request show drift, or when any new label has waited
    ``max_wait_seconds``."""
    now = datetime.now(UTC)
    with LabelStore.transaction(db) as labels:
        if not labels.first_delivery(CONSUMER, context.event_id):
            return
        predictions = labels.rated_predictions(message.batch_id, message.subjects)
        new_labels = labels.add(feedback_rows(message, predictions, holdout_percent, now))
        if read_model is not None:
            # Before the commit, like the trigger below: should the commit fail, the redelivery
            # writes the rows and records them again (the record is idempotent).
            read_model.put_training_labels(message.batch_id, _training_labels(message, predictions, now))
        rated, wrong = sample_ratings(message.kind, message.ratings)
        counters = labels.count(new_labels, rated, wrong, now)
        pending = labels_pending(counters, min_new_labels, max_wait_seconds, now)
        request_id = f"labels-{counters.labels_total}"
        if pending is None or not labels.claim_request(counters, request_id, now):
            return
        request = TrainingRequest(
            request_id=request_id, reason="labels", requested_at=now, new_labels=pending
        )
        # Published before the commit: if the commit then fails, the redelivery asks again with the
        # same request id, and the training function runs it once.
        publish(publisher, topology.TRAINING_REQUESTS, request, traceparent=context.traceparent)
        log.info("training requested", extra={"request_id": request.request_id})


def _training_labels(
    message: Feedback, predictions: dict[str, Prediction], now: datetime
) -> list[TrainingLabel]:
    """When each rated subject's label reached the training data, for the batch's read model."""
    truths = message.true_labels([predictions[subject].label for subject in message.subjects])
    return [
        TrainingLabel(subject=subject, label=truth, rated_at=message.rated_at, reached_at=now)
        for subject, truth in zip(message.subjects, truths, strict=True)
        if truth is not None  # a multi-class "wrong" without the right class never reaches it
    ]
