"""A job's outcome on the models topic. Training, shadow promotion and rollback answer each request
once: the outcome is recorded in the bucket, then published, and a redelivery publishes it again."""

from __future__ import annotations

from collections.abc import Callable

from svmflow import contracts, topology
from svmflow.contracts import ModelEvent
from svmflow.messaging import PUBLISH_TIMEOUT_SECONDS, EventContext, new_traceparent
from svmflow.model_registry import ModelRegistry
from svmflow.ports import Publisher


def record_once(
    job_id: str,
    decide: Callable[[], ModelEvent],
    *,
    registry: ModelRegistry,
    publisher: Publisher,
    context: EventContext,
) -> ModelEvent:
    """The job's recorded outcome, or else ``decide``'s recorded now; published either way."""
    recorded = registry.job_outcome(job_id)
    if recorded is None:
        recorded = registry.record_job_outcome(job_id, contracts.encode(decide()))
    return republish(publisher, recorded, context)


def republish(publisher: Publisher, outcome: bytes, context: EventContext) -> ModelEvent:
    """Publish a recorded outcome as it was stored and return it decoded."""
    publish(publisher, outcome, context)
    return contracts.decode(outcome, ModelEvent)


def publish(publisher: Publisher, data: bytes, context: EventContext) -> None:
    """Publish an encoded model event and wait until the bus has accepted it."""
    attributes = {
        "schema_version": str(contracts.SCHEMA_VERSION),
        "traceparent": new_traceparent(context.traceparent),
    }
    publisher.publish(topology.MODELS, data, attributes).result(timeout=PUBLISH_TIMEOUT_SECONDS)
