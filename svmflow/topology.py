"""The message topology: topics, which function each one triggers, and who publishes where.

Terraform, the embedded bus and the emulated stack are all checked against this one table.
"""

from __future__ import annotations

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
)

# entry point -> (trigger topic, topics it publishes to)
FUNCTIONS: dict[str, tuple[str, tuple[str, ...]]] = {
    # A bulk file's chunks are answered on bulk-predictions, so they stay out of the batch read model.
    "prediction": (PREDICTION_REQUESTS, (PREDICTIONS, BULK_PREDICTIONS)),
    "prediction_to_cache": (PREDICTIONS, ()),
    "prediction_to_db": (PREDICTIONS, ()),
    "feedback_to_db": (FEEDBACK, ()),
    "feedback_to_training": (FEEDBACK, (TRAINING_REQUESTS,)),
    "feedback_to_performance": (FEEDBACK, ()),
    "training": (TRAINING_REQUESTS, (MODELS,)),
    "training_to_cache": (MODELS, ()),
    "training_to_db": (MODELS, ()),
    "bulk_split": (BULK_REQUESTS, (PREDICTION_REQUESTS,)),
    "bulk_results": (BULK_PREDICTIONS, ()),
    "rollback": (ROLLBACK_REQUESTS, (MODELS,)),
    # Records a dead-lettered prediction request: its batch is failed, and it is listed for replay.
    "prediction_dead_letters": (f"{PREDICTION_REQUESTS}{DEAD_LETTER_SUFFIX}", ()),
    # An operator's replay: the dead letter goes back to the topic it came from.
    "dead_letter_replay": (DEAD_LETTER_REPLAYS, TOPICS),
    # Completion webhooks: a batch done or failed records a delivery and tries it at once; the
    # scheduler's tick retries what is due.
    "batch_done_webhooks": (PREDICTIONS, ()),
    "batch_failed_webhooks": (f"{PREDICTION_REQUESTS}{DEAD_LETTER_SUFFIX}", ()),
    "webhook_retries": (WEBHOOK_TICKS, ()),
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
