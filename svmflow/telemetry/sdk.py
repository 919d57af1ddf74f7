"""The OpenTelemetry side of ``svmflow.telemetry``, imported only when telemetry is on.

The providers are the process's own, not OpenTelemetry's global ones: the global providers can be set
once per process, and a test (or a bench comparing telemetry off and on) needs to set them up again.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    InMemoryMetricReader,
    MetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from svmflow import contracts
from svmflow.config import ConfigError, Settings
from svmflow.telemetry import prometheus
from svmflow.telemetry.pending import PendingBatches


class Delivery(Protocol):
    """What a span of a function's processing says of the message (``svmflow.messaging.Delivery``)."""

    @property
    def message_id(self) -> str: ...
    @property
    def attributes(self) -> dict[str, str]: ...
    @property
    def delivery_attempt(self) -> int: ...


D = TypeVar("D", bound=Delivery)


class BatchStatuses(Protocol):
    """The read model, as the gauge of the oldest pending batch uses it."""

    def batch_statuses(self, batch_ids: list[str]) -> list[str]: ...


INSTRUMENTATION = "svmflow"
# Seconds: OpenTelemetry's default boundaries (0 to 10,000) suit milliseconds, not seconds.
LATENCY_BOUNDARIES = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Spans go out in small batches often rather than 512 every 5 s (the SDK's defaults): encoding one takes
# ~90 µs of Python holding the GIL, and 512 at once stall the APIs and the functions for ~50 ms.
EXPORT_SPANS_EVERY_MILLIS = 1000
EXPORT_SPANS_AT_MOST = 64
# Cloud Monitoring refuses points of one series written more often than every 5 s; a minute is its norm.
EXPORT_INTERVAL_MILLIS = 60_000

# The metric names, as Prometheus and Cloud Monitoring (workload.googleapis.com/<name>) see them too.
HTTP_REQUESTS = "svmflow.http.requests"
HTTP_DURATION = "svmflow.http.request.duration"
FUNCTION_DURATION = "svmflow.function.duration"
BATCHES_PREDICTED = "svmflow.batches.predicted"
RECORDS_PREDICTED = "svmflow.records.predicted"
OLDEST_PENDING_AGE = "svmflow.batches.oldest_pending_age"
DEAD_LETTERS = "svmflow.dead_letters"
METRIC_NAMES = (
    HTTP_REQUESTS,
    HTTP_DURATION,
    FUNCTION_DURATION,
    BATCHES_PREDICTED,
    RECORDS_PREDICTED,
    OLDEST_PENDING_AGE,
    DEAD_LETTERS,
)


def _exporters(mode: str) -> tuple[SpanExporter | None, Any]:
    """The span and metric exporters of ``SVMFLOW_TELEMETRY``; the remote ones are optional extras."""
    try:
        return _exporters_of(mode)
    except ImportError as exc:
        extra = "gcp-telemetry" if mode == "gcp" else mode
        raise ConfigError(
            f"SVMFLOW_TELEMETRY={mode} needs the exporters of the {extra} extra: "
            f"pip install 'svmflow[{extra}]' (or uv sync --extra {extra}); {exc}"
        ) from exc


def _exporters_of(mode: str) -> tuple[SpanExporter | None, Any]:
    if mode == "console":
        return ConsoleSpanExporter(), ConsoleMetricExporter()
    if mode == "otlp":  # pip install 'svmflow[otlp]'; the endpoint from OTEL_EXPORTER_OTLP_ENDPOINT
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(), OTLPMetricExporter()
    if mode == "gcp":  # pip install 'svmflow[gcp-telemetry]'
        from opentelemetry.exporter.cloud_monitoring import CloudMonitoringMetricsExporter
        from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

        # Every instance writes series of its own: two instances writing one series would be refused.
        return CloudTraceSpanExporter(), CloudMonitoringMetricsExporter(add_unique_identifier=True)
    return None, None


def _resource(settings: Settings) -> Resource:
    resource = Resource.create({"service.name": "svmflow", "svmflow.mode": settings.mode})
    if settings.telemetry == "gcp":
        from opentelemetry.resourcedetector.gcp_resource_detector import GoogleCloudResourceDetector

        resource = resource.merge(GoogleCloudResourceDetector().detect())
    return resource


Attributes = tuple[tuple[str, str | int], ...]


class Tally:
    """A counter kept as plain sums and read when the metrics are collected: an addition costs a
    dictionary update instead of the SDK's per-measurement work, on the path of every request and
    every batch."""

    def __init__(self, meter: Any, name: str, unit: str, description: str) -> None:
        self._sums: dict[Attributes, int] = {}
        self._lock = threading.Lock()
        meter.create_observable_counter(name, [self._observe], unit, description)

    def add(self, amount: int, attributes: Attributes) -> None:
        with self._lock:
            self._sums[attributes] = self._sums.get(attributes, 0) + amount

    def _observe(self, _: CallbackOptions) -> Sequence[Observation]:
        with self._lock:
            sums = list(self._sums.items())
        return [Observation(total, dict(attributes)) for attributes, total in sums]


class Telemetry:
    def __init__(
        self,
        settings: Settings,
        *,
        span_exporter: SpanExporter | None = None,
        metric_reader: MetricReader | None = None,
    ) -> None:
        # The exporters first: a missing extra is then named, before the resource detector it also holds.
        remote_spans, remote_metrics = _exporters(settings.telemetry)
        resource = _resource(settings)
        self.tracer_provider = TracerProvider(resource=resource)
        if remote_spans is not None:
            self.tracer_provider.add_span_processor(
                BatchSpanProcessor(
                    remote_spans,
                    schedule_delay_millis=EXPORT_SPANS_EVERY_MILLIS,
                    max_export_batch_size=EXPORT_SPANS_AT_MOST,
                )
            )
        if span_exporter is not None:
            self.tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
        readers: list[MetricReader] = []
        if remote_metrics is not None:
            readers.append(
                PeriodicExportingMetricReader(remote_metrics, export_interval_millis=EXPORT_INTERVAL_MILLIS)
            )
        # Read on each scrape of GET /metrics, cumulative as Prometheus expects.
        self.scrape_reader = InMemoryMetricReader() if settings.metrics_prometheus else None
        readers += [r for r in (self.scrape_reader, metric_reader) if r is not None]
        # Exemplars (the trace of a sample measurement) cost more per measurement than the measurement;
        # OTEL_METRICS_EXEMPLAR_FILTER=trace_based turns them back on.
        exemplars = None if os.environ.get("OTEL_METRICS_EXEMPLAR_FILTER") else AlwaysOffExemplarFilter()
        self.meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, exemplar_filter=exemplars
        )
        self.tracer = self.tracer_provider.get_tracer(INSTRUMENTATION)
        self.propagator = TraceContextTextMapPropagator()
        self.pending = PendingBatches()
        self._pending_source: Callable[[], BatchStatuses] | None = None

        meter = self.meter_provider.get_meter(INSTRUMENTATION)
        # Cloud Monitoring cannot chart a rate from a distribution's count: requests get a counter.
        self.http_requests = Tally(meter, HTTP_REQUESTS, "{request}", "HTTP requests answered")
        self.http_duration = meter.create_histogram(
            HTTP_DURATION,
            "s",
            "Time to answer an HTTP request",
            explicit_bucket_boundaries_advisory=LATENCY_BOUNDARIES,
        )
        self.function_duration = meter.create_histogram(
            FUNCTION_DURATION,
            "s",
            "Time a function took over one message, by outcome",
            explicit_bucket_boundaries_advisory=LATENCY_BOUNDARIES,
        )
        self.batches_predicted = Tally(
            meter, BATCHES_PREDICTED, "{batch}", "Batches predicted, per model version"
        )
        self.records_predicted = Tally(
            meter, RECORDS_PREDICTED, "{record}", "Records predicted, per model version and class"
        )
        self.dead_letters = meter.create_counter(
            DEAD_LETTERS, "{message}", "Messages sent to a dead-letter topic, per function"
        )
        meter.create_observable_gauge(
            OLDEST_PENDING_AGE,
            [self._observe_oldest_pending],
            "s",
            "Age of the oldest batch this API accepted whose results are not in the read model yet",
        )

    # -- traces ------------------------------------------------------------------------------------

    def parent(self, traceparent: str | None) -> Context | None:
        return self.propagator.extract({"traceparent": traceparent}) if traceparent else None

    def current_traceparent(self) -> str | None:
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"

    @contextmanager
    def request_span(self, method: str, traceparent: str | None) -> Iterator[Span]:
        """A server span continuing the caller's trace, if it sent one; named once the route is known."""
        with self.tracer.start_as_current_span(
            method,
            context=self.parent(traceparent),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        ) as span:
            yield span

    def request_span_after(
        self, method: str, route: str, status: int, traceparent: str | None, started_ns: int
    ) -> None:
        """The server span of a request already answered."""
        self.tracer.start_span(
            f"{method} {route}",
            context=self.parent(traceparent),
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": route,
                "http.response.status_code": status,
            },
            start_time=started_ns,
        ).end()

    def processing(self, function: str, topic: str, delivery: D, process: Callable[[D], str]) -> str:
        attributes: dict[str, str | int] = {
            "messaging.system": "gcp_pubsub",
            "messaging.destination.name": topic,
            "messaging.message.id": delivery.message_id,
            "svmflow.function": function,
            "svmflow.delivery_attempt": delivery.delivery_attempt,
        }
        if batch_id := delivery.attributes.get("batch_id"):
            attributes["svmflow.batch_id"] = batch_id
        outcome = "failed"  # unless process returns: a transient failure, redelivered
        started = time.perf_counter()
        with self.tracer.start_as_current_span(
            f"process {function}",
            context=self.parent(delivery.attributes.get("traceparent")),
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            try:
                outcome = process(delivery)
                return outcome
            finally:
                span.set_attribute("svmflow.outcome", outcome)
                self.function_duration.record(
                    time.perf_counter() - started, {"function": function, "outcome": outcome}
                )
                if outcome == "dead-lettered":
                    self.dead_letters.add(1, {"function": function, "topic": topic})

    # -- metrics -----------------------------------------------------------------------------------

    def record_request(self, api: str, method: str, route: str, status: int, seconds: float) -> None:
        self.http_requests.add(1, (("api", api), ("method", method), ("route", route), ("status", status)))
        self.http_duration.record(seconds, {"api": api, "method": method, "route": route, "status": status})

    def published(self, topic: str, message: contracts.Contract) -> None:
        if not isinstance(message, contracts.Predictions):
            return
        version = message.model_version
        self.batches_predicted.add(1, (("model_version", version),))
        for label, count in Counter(message.labels).items():
            self.records_predicted.add(count, (("model_version", version), ("class", str(label))))

    def watch_pending(self, read_model: Callable[[], BatchStatuses]) -> None:
        """Where the gauge of the oldest pending batch looks up which accepted batches are done."""
        self._pending_source = read_model

    def _observe_oldest_pending(self, _: CallbackOptions) -> Sequence[Observation]:
        if self._pending_source is None:
            return []
        return [Observation(self.pending.oldest_age(self._pending_source().batch_statuses))]

    def prometheus_text(self) -> str:
        if self.scrape_reader is None:
            raise RuntimeError("SVMFLOW_METRICS_PROMETHEUS is off")
        return prometheus.exposition(self.scrape_reader.get_metrics_data())

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
