"""The message topology: topics, which function each one triggers, and who publishes where.

Terraform, the embedded bus and the emulated stack are all made from, or checked against, this one
table.
"""

from __future__ import annotations

from typing import NamedTuple

PREDICTION_REQUESTS = "prediction-requests"
PREDICTIONS = "predictions"
FEEDBACK = "feedback"
TRAINING_REQUESTS = "training-requests"
MODELS = "models"
BULK_REQUESTS = "bulk-requests"
BULK_PREDICTIONS = "bulk-predictions"
ROLLBACK_REQUESTS = "rollback-requests"
DEAD_LETTER_REPLAYS = "dead-letter-replays"
WEBHOOK_TICKS = "webhook-ticks"
DRIFT_EVENTS = "drift-events"
DEAD_LETTER_SUFFIX = "-dead-letter"

TOPICS = (
    PREDICTION_REQUESTS,
    PREDICTIONS,
    FEEDBACK,
    TRAINING_REQUESTS,
    MODELS,
    BULK_REQUESTS,
    BULK_PREDICTIONS,
    ROLLBACK_REQUESTS,
    DEAD_LETTER_REPLAYS,
    WEBHOOK_TICKS,
    DRIFT_EVENTS,
)


class Function(NamedTuple):
    """One row of the function table: what triggers it, where it may publish, what runs it."""

    topic: str
    publishes: tuple[str, ...]
    # A module path with a ``handle(message, context, **dependencies)``, imported only in the process
    # that runs it, so a function's cold start loads its own handler's libraries and no other's.
    handler: str


# The one list of functions: main.py's entry points, bootstrap's wiring and the embedded bus's
# subscriptions are made from it, and infra/components.tf is checked against it (tests/unit/infra).
# Adding a function is a row here and a handler module.
FUNCTIONS: dict[str, Function] = {
    # A bulk file's chunks are answered on bulk-predictions, so they stay out of the batch read model.
    "prediction": Function(
        PREDICTION_REQUESTS, (PREDICTIONS, BULK_PREDICTIONS), "svmflow.handlers.prediction"
    ),
    "prediction_to_cache": Function(PREDICTIONS, (), "svmflow.handlers.prediction_to_cache"),
    # Counts a shadow model's scores; once it has scored enough, asks the training function to promote it.
    "prediction_to_db": Function(PREDICTIONS, (TRAINING_REQUESTS,), "svmflow.handlers.prediction_to_db"),
    # Input drift per model version; a drifted window is an event (and, if enabled, a retraining).
    "drift_monitor": Function(
        PREDICTIONS, (DRIFT_EVENTS, TRAINING_REQUESTS), "svmflow.handlers.drift_monitor"
    ),
    "feedback_to_db": Function(FEEDBACK, (), "svmflow.handlers.feedback_to_db"),
    "feedback_to_training": Function(FEEDBACK, (TRAINING_REQUESTS,), "svmflow.handlers.feedback_to_training"),
    # After a promotion, a significant drop in live accuracy asks for an automatic rollback.
    "feedback_to_performance": Function(
        FEEDBACK, (ROLLBACK_REQUESTS,), "svmflow.handlers.feedback_to_performance"
    ),
    "training": Function(TRAINING_REQUESTS, (MODELS,), "svmflow.handlers.training"),
    "training_to_cache": Function(MODELS, (), "svmflow.handlers.training_to_cache"),
    "training_to_db": Function(MODELS, (), "svmflow.handlers.training_to_db"),
    "bulk_split": Function(BULK_REQUESTS, (PREDICTION_REQUESTS,), "svmflow.handlers.bulk_split"),
    "bulk_results": Function(BULK_PREDICTIONS, (), "svmflow.handlers.bulk_results"),
    "rollback": Function(ROLLBACK_REQUESTS, (MODELS,), "svmflow.handlers.rollback"),
    # Records a dead-lettered prediction request: its batch is failed, and it is listed for replay.
    "prediction_dead_letters": Function(
        f"{PREDICTION_REQUESTS}{DEAD_LETTER_SUFFIX}", (), "svmflow.handlers.prediction_dead_letters"
    ),
    # An operator's replay: the dead letter goes back to the topic it came from.
    "dead_letter_replay": Function(DEAD_LETTER_REPLAYS, TOPICS, "svmflow.handlers.dead_letter_replay"),
    # Completion webhooks: a batch done or failed records a delivery and tries it at once; the
    # scheduler's tick retries what is due.
    "batch_done_webhooks": Function(PREDICTIONS, (), "svmflow.handlers.batch_done_webhooks"),
    "batch_failed_webhooks": Function(
        f"{PREDICTION_REQUESTS}{DEAD_LETTER_SUFFIX}", (), "svmflow.handlers.batch_failed_webhooks"
    ),
    "webhook_retries": Function(WEBHOOK_TICKS, (), "svmflow.handlers.webhook_retries"),
}

# API -> topics it publishes to
APIS: dict[str, tuple[str, ...]] = {
    "ingest": (PREDICTION_REQUESTS, BULK_REQUESTS),
    "predict": (FEEDBACK, ROLLBACK_REQUESTS, DEAD_LETTER_REPLAYS),
}


def dead_letter_topic(topic: str) -> str:
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def is_dead_letter_topic(topic: str) -> bool:
    """A dead-letter topic has none of its own: what its subscribers fail on is retried, not moved on."""
    return topic.endswith(DEAD_LETTER_SUFFIX)


def source_topic(dead_letter: str) -> str:
    return dead_letter.removesuffix(DEAD_LETTER_SUFFIX)


def subscription_name(function: str) -> str:
    """The push subscription that delivers a function's trigger topic to it."""
    return f"{function.replace('_', '-')}-sub"
