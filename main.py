"""Cloud Functions source root: one archive, one entry point per function (see infra/)."""

from __future__ import annotations

from functions.batch_done_webhooks import batch_done_webhooks
from functions.batch_failed_webhooks import batch_failed_webhooks
from functions.bulk_results import bulk_results
from functions.bulk_split import bulk_split
from functions.dead_letter_replay import dead_letter_replay
from functions.feedback_to_db import feedback_to_db
from functions.feedback_to_performance import feedback_to_performance
from functions.feedback_to_training import feedback_to_training
from functions.prediction import prediction
from functions.prediction_dead_letters import prediction_dead_letters
from functions.prediction_to_cache import prediction_to_cache
from functions.prediction_to_db import prediction_to_db
from functions.rollback import rollback
from functions.training import training
from functions.training_to_cache import training_to_cache
from functions.training_to_db import training_to_db
from functions.webhook_retries import webhook_retries

__all__ = [
    "batch_done_webhooks",
    "batch_failed_webhooks",
    "bulk_results",
    "bulk_split",
    "dead_letter_replay",
    "feedback_to_db",
    "feedback_to_performance",
    "feedback_to_training",
    "prediction",
    "prediction_dead_letters",
    "prediction_to_cache",
    "prediction_to_db",
    "rollback",
    "training",
    "training_to_cache",
    "training_to_db",
    "webhook_retries",
]
