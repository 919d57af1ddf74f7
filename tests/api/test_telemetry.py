"""Traces and metrics over the embedded runtime: one batch is one trace from its POST to its poll, and
the Prometheus text at GET /metrics parses and moves with the work done."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from api.app import create_ingest_app, create_predict_app
from api.wiring import backend_of
from svmflow import operations, telemetry, topology
from svmflow.adapters.secrets import EnvSecrets
from svmflow.bootstrap import Container
from svmflow.runtime.embedded_bus import EmbeddedBus
from svmflow.telemetry.pending import PendingBatches
from tests.api.conftest import AUTH, PREDICT_URL, SpyPublisher, System, batch, make_settings


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, InMemorySpanExporter]]:
    telemetry.shutdown()
    settings = make_settings(tmp_path_factory.mktemp("telemetry"), metrics_prometheus=True)
    exporter = InMemorySpanExporter()
    assert telemetry.configure(settings, span_exporter=exporter) is not None
    bus = EmbeddedBus(settings.bus_path, max_attempts=settings.max_delivery_attempts, min_backoff=0.05)
    spy = SpyPublisher(bus)
    container = Container(
        settings,
        bus=bus,
        publisher=spy,
        redis=fakeredis.FakeRedis(server=fakeredis.FakeServer()),
        secrets=EnvSecrets({}),
    )
    container.subscribe_all(bus)
    bus.start(2)
    try:
        operations.seed(container)
        assert operations.train(container) is not None
        bus.drain(timeout=60)
        with (
            TestClient(create_ingest_app(backend_of(container), predict_url=PREDICT_URL)) as ingest,
            TestClient(create_predict_app(backend_of(container), predict_url=PREDICT_URL)) as predict,
        ):
            yield System(container, bus, spy, ingest, predict), exporter
    finally:
        bus.stop()
        telemetry.shutdown()


def _spans_of(exporter: InMemorySpanExporter, trace_id: int) -> dict[str, ReadableSpan]:
    spans = [s for s in exporter.get_finished_spans() if s.context is not None]
    return {s.name: s for s in spans if s.context.trace_id == trace_id}  # type: ignore[union-attr]


def test_a_batch_is_one_trace_from_its_post_to_its_poll(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    system, exporter = traced
    exporter.clear()
    posted = system.ingest.post("/v1/batches", json=batch(3), headers=AUTH)
    assert posted.status_code == 202, posted.text
    traceresponse = posted.headers["traceresponse"]
    trace_id = int(traceresponse.split("-")[1], 16)
    system.drain()
    # The client carries the trace on to its poll, as W3C Trace Context level 2 has it.
    batch_id = posted.json()["batch_id"]
    polled = system.predict.get(f"/v1/batches/{batch_id}", headers={**AUTH, "traceparent": traceresponse})
    assert polled.status_code == 200, polled.text

    spans = _spans_of(exporter, trace_id)
    ingest = spans["POST /v1/batches"]
    prediction = spans["process prediction"]
    assert prediction.parent is not None
    assert ingest.context is not None
    assert prediction.parent.span_id == ingest.context.span_id
    assert prediction.attributes is not None
    assert prediction.attributes["svmflow.batch_id"] == batch_id
    for function in ("prediction_to_cache", "prediction_to_db"):
        child = spans[f"process {function}"]
        assert child.parent is not None
        assert prediction.context is not None
        assert child.parent.span_id == prediction.context.span_id, function
    poll = spans["GET /v1/batches/{batch_id}"]
    assert poll.parent is not None
    assert poll.parent.span_id == ingest.context.span_id
    assert poll.attributes is not None
    assert poll.attributes["http.response.status_code"] == 200


def test_a_callers_trace_is_continued_and_a_malformed_one_ignored(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    system, exporter = traced
    trace_id = uuid.uuid4().hex
    caller = f"00-{trace_id}-{'1' * 16}-01"
    posted = system.ingest.post("/v1/batches", json=batch(2), headers={**AUTH, "traceparent": caller})
    assert posted.status_code == 202
    assert posted.headers["traceresponse"].split("-")[1] == trace_id
    system.drain()
    spans = _spans_of(exporter, int(trace_id, 16))
    assert spans["POST /v1/batches"].parent is not None
    assert spans["POST /v1/batches"].parent.span_id == int("1" * 16, 16)
    assert "process prediction_to_cache" in spans

    garbled = system.ingest.post("/v1/batches", json=batch(2), headers={**AUTH, "traceparent": "00-xyz"})
    assert garbled.status_code == 202
    assert len(garbled.headers["traceresponse"].split("-")[1]) == 32


def _scrape(system: System) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Every sample of GET /metrics, parsed by Prometheus's own client: name -> labels -> value."""
    response = system.ingest.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def _total(samples: dict[str, dict[tuple[tuple[str, str], ...], float]], name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if wanted <= set(k))


def test_metrics_scrape_as_prometheus_text_and_count_a_batch(
    traced: tuple[System, InMemorySpanExporter],
) -> None:
    system, _ = traced
    system.drain()  # nothing of an earlier test still in flight
    before = _scrape(system)
    version = system.container.read_model.current_model()
    assert version is not None
    system.done(system.submit(rows=4)["batch_id"])
    after = _scrape(system)

    def moved(name: str, **labels: str) -> float:
        return _total(after, name, **labels) - _total(before, name, **labels)

    assert moved("svmflow_batches_predicted_total", model_version=version.version) == 1
    assert moved("svmflow_records_predicted_total", model_version=version.version) == 4
    # The rows alternate genuine and forged: two of each class.
    assert moved("svmflow_records_predicted_total", **{"class": "0"}) == 2
    assert moved("svmflow_records_predicted_total", **{"class": "1"}) == 2
    assert moved("svmflow_http_requests_total", api="ingest", route="/v1/batches", status="202") == 1
    assert moved("svmflow_http_requests_total", api="predict", route="/v1/batches/{batch_id}") >= 1
    latency = after["svmflow_http_request_duration_seconds_bucket"]
    assert any(dict(k)["le"] == "+Inf" and dict(k)["route"] == "/v1/batches" for k in latency)
    assert moved("svmflow_function_duration_seconds_count", function="prediction", outcome="done") >= 1
    # Everything accepted is done, so nothing is pending.
    assert _total(after, "svmflow_batches_oldest_pending_age_seconds") == 0


def test_a_dead_letter_is_counted(traced: tuple[System, InMemorySpanExporter]) -> None:
    system, _ = traced
    system.drain()
    before = _total(_scrape(system), "svmflow_dead_letters_total", function="prediction")
    system.bus.publish(topology.PREDICTION_REQUESTS, b"not a prediction request", {})
    system.drain()
    after = _total(_scrape(system), "svmflow_dead_letters_total", function="prediction")
    assert after - before == 1


def test_the_oldest_pending_batch_is_the_oldest_accepted_not_yet_done() -> None:
    now = [1000.0]
    pending = PendingBatches(clock=lambda: now[0])
    done: set[str] = set()
    for index, batch_id in enumerate(("a", "b", "c")):
        now[0] = 1000.0 + index
        pending.accepted(batch_id)
    now[0] = 1010.0

    def statuses(ids: list[str]) -> list[str]:
        return ["done" if i in done else "pending" for i in ids]

    assert pending.oldest_age(statuses) == 10.0
    done.update({"a"})
    assert pending.oldest_age(statuses) == 9.0
    done.update({"b", "c"})
    assert pending.oldest_age(statuses) == 0.0


def test_off_by_default_no_provider_is_built(tmp_path: Path) -> None:
    """redis-py and the Pub/Sub client load parts of OpenTelemetry's SDK themselves; the tracing SDK and
    the providers are telemetry's own, and are not loaded when it is off."""
    script = (
        "import sys\n"
        "from api.app import create_ingest_app, create_predict_app\n"
        "from api.wiring import backend_of\n"
        "from svmflow.bootstrap import Container\n"
        "from svmflow.config import Settings\n"
        "backend = backend_of(Container(Settings(state_dir=sys.argv[1])))\n"
        "app = create_ingest_app(backend), create_predict_app(backend)\n"
        "loaded = {'svmflow.telemetry.sdk', 'opentelemetry.sdk.trace'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def test_an_exporter_that_is_not_installed_is_named_with_its_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from svmflow.config import ConfigError
    from svmflow.telemetry import sdk

    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.cloud_trace", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"SVMFLOW_TELEMETRY=gcp needs .*svmflow\[gcp-telemetry\]"):
        sdk.Telemetry(make_settings(tmp_path, telemetry="gcp"))


def test_an_unknown_telemetry_setting_is_refused_naming_the_choices() -> None:
    from svmflow.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="SVMFLOW_TELEMETRY='jaeger': input should be 'off', 'console'"):
        Settings.from_env({"SVMFLOW_TELEMETRY": "jaeger"})
    with pytest.raises(ConfigError, match=r"SVMFLOW_METRICS_PROMETHEUS='yes please': .*valid boolean"):
        Settings.from_env({"SVMFLOW_METRICS_PROMETHEUS": "yes please"})
    assert Settings.from_env({"SVMFLOW_METRICS_PROMETHEUS": "on"}).metrics_prometheus
    assert not Settings.from_env({"SVMFLOW_METRICS_PROMETHEUS": "off"}).metrics_prometheus
