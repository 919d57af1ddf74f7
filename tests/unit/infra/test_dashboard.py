"""The Cloud Monitoring dashboard in infra/ is valid and charts exactly the metrics the code emits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from svmflow.telemetry.sdk import METRIC_NAMES
from tests.unit.infra import terraform_model as model

DASHBOARD = model.INFRA / "dashboard.json"
PREFIX = "workload.googleapis.com/"  # where the OpenTelemetry exporter for Cloud Monitoring writes
_METRIC_TYPE = re.compile(r'metric\.type\s*=\s*"(?P<type>[^"]+)"')
ALIGNERS = {"ALIGN_RATE", "ALIGN_DELTA", "ALIGN_MAX", "ALIGN_MEAN"}
# A percentile needs a distribution, a rate needs a number: which each metric is, from the code.
DISTRIBUTIONS = {"svmflow.http.request.duration", "svmflow.function.duration"}
GAUGES = {"svmflow.batches.oldest_pending_age"}
COLUMNS = 48


def datasets(dashboard: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for tile in dashboard["mosaicLayout"]["tiles"]:
        widget = tile["widget"]
        for dataset in widget["xyChart"]["dataSets"]:
            found.append((widget["title"], dataset["timeSeriesQuery"]["timeSeriesFilter"]))
    return found


def problems(dashboard: dict[str, Any], emitted: tuple[str, ...] = METRIC_NAMES) -> list[str]:
    found: list[str] = []
    charted: set[str] = set()
    for title, query in datasets(dashboard):
        match = _METRIC_TYPE.search(query["filter"])
        if match is None or not match["type"].startswith(PREFIX):
            found.append(f"{title}: no {PREFIX} metric in {query['filter']!r}")
            continue
        name = match["type"].removeprefix(PREFIX)
        charted.add(name)
        if name not in emitted:
            found.append(f"{title}: {name} is not a metric the code emits")
        aggregation = query["aggregation"]
        aligner, reducer = aggregation["perSeriesAligner"], aggregation["crossSeriesReducer"]
        if aligner not in ALIGNERS:
            found.append(f"{title}: unexpected aligner {aligner}")
        if reducer.startswith("REDUCE_PERCENTILE") != (name in DISTRIBUTIONS):
            found.append(f"{title}: {reducer} on {name}")
        # A gauge is aligned as a level; a counter or a distribution by what it gained per period.
        if (aligner in ("ALIGN_MAX", "ALIGN_MEAN")) != (name in GAUGES) or (
            aligner == "ALIGN_RATE" and name in DISTRIBUTIONS
        ):
            found.append(f"{title}: {aligner} on {name}")
        for field in aggregation.get("groupByFields", []):
            if not field.startswith("metric.label."):
                found.append(f"{title}: groups by {field}, not a metric label")
    found += [f"{name} is emitted but not on the dashboard" for name in sorted(set(emitted) - charted)]
    return found


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())  # type: ignore[no-any-return]


def test_terraform_deploys_the_dashboard_file() -> None:
    tf = model.load()
    (body,) = tf.of_kind("google_monitoring_dashboard").values()
    assert "file(" in body["dashboard_json"]
    assert "/dashboard.json" in body["dashboard_json"]


def test_the_dashboard_charts_every_emitted_metric_and_nothing_else(dashboard: dict[str, Any]) -> None:
    assert dashboard["displayName"]
    assert problems(dashboard) == []


def test_tiles_fit_the_grid_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for tile in dashboard["mosaicLayout"]["tiles"]:
        assert tile["xPos"] >= 0
        assert tile["xPos"] + tile["width"] <= COLUMNS, tile["widget"]["title"]
        cells = {
            (x, y)
            for x in range(tile["xPos"], tile["xPos"] + tile["width"])
            for y in range(tile["yPos"], tile["yPos"] + tile["height"])
        }
        assert not cells & taken, f"{tile['widget']['title']} overlaps another tile"
        taken |= cells


def test_a_metric_the_code_does_not_emit_fails(dashboard: dict[str, Any]) -> None:
    renamed = json.loads(json.dumps(dashboard).replace("svmflow.dead_letters", "svmflow.dead_letter"))
    assert problems(renamed) == [
        "Dead letters per minute, by function: svmflow.dead_letter is not a metric the code emits",
        "svmflow.dead_letters is emitted but not on the dashboard",
    ]


def test_a_percentile_of_a_counter_fails(dashboard: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(dashboard))
    broken["mosaicLayout"]["tiles"][2]["widget"]["xyChart"]["dataSets"][0]["timeSeriesQuery"][
        "timeSeriesFilter"
    ]["aggregation"]["crossSeriesReducer"] = "REDUCE_PERCENTILE_99"
    assert problems(broken) == [
        "Batches predicted per second, by model version: REDUCE_PERCENTILE_99 on svmflow.batches.predicted"
    ]
