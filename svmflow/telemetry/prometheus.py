"""Metrics in the Prometheus text exposition format (version 0.0.4), written from the SDK's data.

A few dozen lines instead of ``opentelemetry-exporter-prometheus``, which brings ``prometheus_client``
and an HTTP server of its own: the APIs serve the text at ``GET /metrics`` themselves.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.sdk.metrics.export import Gauge, Histogram, MetricsData, Sum

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_INVALID = re.compile(r"[^a-zA-Z0-9_:]")
# OpenTelemetry units that Prometheus spells as a name suffix; annotations like {batch} are dropped.
_UNIT_SUFFIXES = {"s": "seconds", "ms": "milliseconds", "By": "bytes"}


def metric_name(name: str, unit: str | None, *, counter: bool) -> str:
    base = _INVALID.sub("_", name)
    suffix = _UNIT_SUFFIXES.get(unit or "")
    if suffix and not base.endswith(suffix):
        base = f"{base}_{suffix}"
    return f"{base}_total" if counter else base


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(attributes: Mapping[str, Any] | None, extra: Mapping[str, str] | None = None) -> str:
    pairs = {_INVALID.sub("_", str(k)): str(v) for k, v in (attributes or {}).items()} | dict(extra or {})
    if not pairs:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(pairs.items())) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _lines(metric: Any) -> Iterable[str]:
    data = metric.data
    counter = isinstance(data, Sum) and data.is_monotonic
    kind = "counter" if counter else "histogram" if isinstance(data, Histogram) else "gauge"
    name = metric_name(metric.name, metric.unit, counter=counter)
    if metric.description:
        yield f"# HELP {name} {_escape(metric.description)}"
    yield f"# TYPE {name} {kind}"
    if isinstance(data, Sum | Gauge):
        for point in data.data_points:
            yield f"{name}{_labels(point.attributes)} {_number(point.value)}"
        return
    for point in data.data_points:
        cumulative = 0
        bounds = [*point.explicit_bounds, math.inf]
        for bound, count in zip(bounds, point.bucket_counts, strict=True):
            cumulative += count
            le = {"le": _number(float(bound))}
            yield f"{name}_bucket{_labels(point.attributes, le)} {cumulative}"
        yield f"{name}_sum{_labels(point.attributes)} {_number(point.sum)}"
        yield f"{name}_count{_labels(point.attributes)} {point.count}"


def exposition(data: MetricsData | None) -> str:
    lines: list[str] = []
    for resource_metrics in data.resource_metrics if data is not None else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                lines.extend(_lines(metric))
    return "\n".join(lines) + "\n"
