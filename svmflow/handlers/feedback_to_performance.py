"""feedback-to-performance: live accuracy, balanced accuracy and per-class recall per model version.

Ratings are joined to the predictions they rate (the verdicts, written here as well as by
feedback-to-db: the upsert is idempotent, so whichever runs first writes and the other changes
nothing, and this function never waits on the other). The version's counts are recomputed in
Postgres, then projected into the read model. After a promotion, the new version's figures are
tested against its predecessor's, and a significant drop asks for an automatic rollback.
"""

from __future__ import annotations

from svmflow import auto_rollback
from svmflow.contracts import Feedback
from svmflow.db import performance
from svmflow.db.database import Database
from svmflow.db.stores.feedback import FeedbackStore
from svmflow.domain.performance import VersionPerformance
from svmflow.domain.sequential import WatchPolicy
from svmflow.messaging import EventContext
from svmflow.model_registry import ModelRegistry
from svmflow.ports import Publisher
from svmflow.read_model import ReadModel

CONSUMER = "feedback_to_performance"


def handle(
    message: Feedback,
    context: EventContext,
    *,
    db: Database,
    read_model: ReadModel,
    registry: ModelRegistry | None = None,
    publisher: Publisher | None = None,
    watch: WatchPolicy | None = None,
) -> None:
    """Keyed by event id in the database; the projection is keyed by version and revision, so it is
    written again on a redelivery (say Redis was down after the commit) and the newest one wins. The
    rollback check runs on a redelivery too (its request is keyed by the promotion), so a crash
    between the commit and the request does not lose it. Without ``watch`` nothing is rolled back."""
    figures = FeedbackStore(db).rate_and_recompute(message, CONSUMER, context.event_id)
    if figures is None:
        return
    read_model.put_performance(figures)
    if watch is not None and registry is not None and publisher is not None:
        version = figures.model_version
        auto_rollback.evaluate(
            version,
            lambda other: figures if other == version else _load(db, other),
            registry,
            publisher,
            watch,
            context.traceparent,
        )


def _load(db: Database, version: str) -> VersionPerformance | None:
    with db.transaction() as session:
        return performance.load(session, version)
