"""Feedback labels as training rows, and the debounce counter that asks for the next training.

One ``LabelStore`` is one transaction: the event claim, the rows, the counter and the compare-and-set
on it commit together, so duplicate or concurrent deliveries ask for one training at most.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TypedDict

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from svmflow.contracts import Feedback
from svmflow.db.database import Database, as_utc
from svmflow.db.queries import initial_retrain_state, predictions_for
from svmflow.db.tables import Prediction, RetrainState, TrainingRow
from svmflow.domain.retrain_trigger import RetrainCounters
from svmflow.domain.training import FEEDBACK, SAMPLE, is_holdout, row_hash


class FeedbackTrainingRow(TypedDict):
    source: str
    source_key: str
    features: list[float]
    label: int
    row_hash: str
    holdout: bool
    labelled_at: datetime
    created_at: datetime
    kind: str
    batch_id: str
    subject: str
    labelled_by: str | None
    label_changes: int
    status: str


def feedback_rows(
    message: Feedback, predictions: dict[str, Prediction], holdout_percent: int, now: datetime
) -> dict[str, FeedbackTrainingRow]:
    """The training rows of a message's ratings, keyed by the digest of their features: a vector has
    one label, so the same vector rated twice in one message keeps its last rating. A multi-class
    "wrong" without the right class is no training row: its label is not known."""
    rows: dict[str, FeedbackTrainingRow] = {}
    truths = message.true_labels([predictions[subject].label for subject in message.subjects])
    for subject, truth in zip(message.subjects, truths, strict=True):
        if truth is None:
            continue
        prediction = predictions[subject]
        digest = row_hash(prediction.features)
        rows[digest] = {
            "source": FEEDBACK,
            "source_key": digest,
            "features": prediction.features,
            "label": truth,
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
    return rows


class LabelStore:
    def __init__(self, db: Database, session: Session) -> None:
        self.db = db
        self.session = session

    @classmethod
    @contextmanager
    def transaction(cls, db: Database) -> Iterator[LabelStore]:
        with db.transaction() as session:
            yield cls(db, session)

    def first_delivery(self, consumer: str, event_id: str) -> bool:
        return self.db.claim_event(self.session, consumer, event_id)

    def rated_predictions(self, batch_id: str, subjects: Sequence[str]) -> dict[str, Prediction]:
        _, predictions = predictions_for(self.session, batch_id, subjects)
        return predictions

    def add(self, incoming: dict[str, FeedbackTrainingRow]) -> int:
        """Insert new vectors, replace changed labels; the number of new labels."""
        if not incoming:
            return 0
        session = self.session
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
            self.db.insert_ignore(session, TrainingRow, fresh)
            new_labels += len(fresh)
        for key, row in incoming.items():
            old = known.get(key)
            if old is None or as_utc(old.labelled_at) > row["labelled_at"]:
                continue  # new (done above), or an older rating that arrived late
            if old.label != row["label"]:
                # The newer rating replaces the label and who gave it, when, how and for which batch.
                relabelled = update(TrainingRow).where(TrainingRow.id == old.id)
                session.execute(
                    relabelled.values(
                        label=row["label"],
                        labelled_at=row["labelled_at"],
                        kind=row["kind"],
                        batch_id=row["batch_id"],
                        subject=row["subject"],
                        labelled_by=row["labelled_by"],
                        label_changes=old.label_changes + 1,
                    )
                )
                new_labels += 1
            elif old.kind != SAMPLE and row["kind"] == SAMPLE:
                # The same label confirmed by an unbiased rating: from now on it is evidence too.
                session.execute(update(TrainingRow).where(TrainingRow.id == old.id).values(kind=SAMPLE))
        return new_labels

    def count(self, new_labels: int, rated: int, wrong: int, now: datetime) -> RetrainCounters:
        """Add this message's new labels and unbiased ratings to the counter; the counter as it stands."""
        session = self.session
        self.db.insert_ignore(session, RetrainState, [initial_retrain_state(now)])
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
        return RetrainCounters(
            labels_total=state.labels_total,
            labels_at_last_request=state.labels_at_last_request,
            labels_needed=state.labels_needed,
            updated_at=as_utc(state.updated_at),
            sample_rated=state.sample_rated,
            sample_wrong=state.sample_wrong,
            reference_error=state.reference_error,
        )

    def claim_request(self, counters: RetrainCounters, request_id: str, now: datetime) -> bool:
        """Compare-and-set: reset the counter to ``counters.labels_total`` unless another delivery moved
        it since ``counters`` were read; True if this delivery is the one that asks."""
        claimed = (
            self.session.connection()
            .execute(
                update(RetrainState)
                .where(
                    RetrainState.id == 1,
                    RetrainState.labels_at_last_request == counters.labels_at_last_request,
                )
                .values(
                    labels_at_last_request=counters.labels_total,
                    last_request_id=request_id,
                    updated_at=now,
                    sample_rated=0,
                    sample_wrong=0,
                )
            )
            .rowcount
        )
        return bool(claimed == 1)
