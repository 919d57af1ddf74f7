"""Records by feature name, class names in poll answers, feedback labels, and the data set in the
OpenAPI documents, on the default (banknote) spec."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from svmflow import topology
from tests.api.conftest import AUTH, FORGED, GENUINE, System

NAMES = ["variance", "skewness", "curtosis", "entropy"]


def named(row: list[float]) -> dict[str, float]:
    return dict(zip(NAMES, row, strict=True))


def subjects(count: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8]
    return [f"{prefix}-{i}" for i in range(count)]


def test_records_by_name_predict_as_the_same_rows_by_position(system: System) -> None:
    who = subjects(3)
    by_name = system.submit_body({"subjects": who, "records": [named(GENUINE), named(FORGED), FORGED]})
    by_position = system.submit_body({"subjects": subjects(3), "features": [GENUINE, FORGED, FORGED]})
    named_results = system.done(by_name["batch_id"])["results"]
    positional = system.done(by_position["batch_id"])["results"]
    assert [r["subject"] for r in named_results] == who
    assert [(r["label"], r["score"]) for r in named_results] == [(r["label"], r["score"]) for r in positional]
    # Poll answers name the class beside the label (its position in the spec's classes).
    assert [(r["label"], r["class"]) for r in named_results] == [(0, "genuine"), (1, "forged"), (1, "forged")]


def test_a_record_in_any_key_order_is_read_by_name(system: System) -> None:
    shuffled = dict(reversed(list(named(FORGED).items())))
    accepted = system.submit_body({"subjects": subjects(1), "records": [shuffled]})
    assert system.done(accepted["batch_id"])["results"][0]["class"] == "forged"


@pytest.mark.parametrize(
    ("record", "field", "words"),
    [
        ({**named(GENUINE), "varianse": 1.0}, "records[1].varianse", ["'varianse' is not a feature"]),
        (
            {k if k != "variance" else "varianse": v for k, v in named(GENUINE).items()},
            "records[1].varianse",
            ["did you mean 'variance'?"],
        ),
        ({k: v for k, v in named(GENUINE).items() if k != "entropy"}, "records[1].entropy", ["missing"]),
    ],
)
def test_a_missing_extra_or_misspelt_name_is_a_400_naming_it(
    system: System, record: dict[str, Any], field: str, words: list[str]
) -> None:
    before = system.spy.count(topology.PREDICTION_REQUESTS)
    body = {"subjects": subjects(2), "records": [named(GENUINE), record]}
    response = system.ingest.post("/v1/batches", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["field"] == field
    for word in words:
        assert word in problem["detail"]
    assert system.spy.count(topology.PREDICTION_REQUESTS) == before  # nothing was published


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"records": [{**named(GENUINE), "curtosis": "high"}]}, 422, "records[0].curtosis"),
        ({"records": [{**named(GENUINE), "curtosis": True}]}, 422, "records[0].curtosis"),
        ({"records": [[1.0, 2.0, 3.0]]}, 422, "records[0]"),
        ({"records": [GENUINE], "features": [GENUINE]}, 422, "records"),
        ({}, 422, "features"),
    ],
)
def test_records_that_do_not_fit_the_spec_are_refused(
    system: System, body: dict[str, Any], status: int, field: str
) -> None:
    response = system.ingest.post("/v1/batches", json={"subjects": subjects(1), **body}, headers=AUTH)
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_feedback_may_name_the_right_class(system: System) -> None:
    batch = system.submit_body({"subjects": subjects(2), "features": [GENUINE, FORGED]})
    results = system.done(batch["batch_id"])["results"]
    who = [r["subject"] for r in results]
    truth = ["forged", results[1]["class"]]  # the first one corrected, the second confirmed
    response = system.predict.patch(
        f"/v1/batches/{batch['batch_id']}", json={"subjects": who, "labels": truth}, headers=AUTH
    )
    assert response.status_code == 202, response.text
    assert response.json()["accepted"] == 2


@pytest.mark.parametrize(
    ("feedback", "field", "words"),
    [
        ({"labels": ["genuine", "counterfeit"]}, "labels[1]", "'counterfeit' is not a class"),
        ({"labels": ["genuine"]}, "labels", "labels has 1 entries"),
        ({"labels": ["forged", "forged"], "ratings": [1, 1]}, "ratings[0]", "rated right but labelled"),
    ],
)
def test_labels_that_do_not_fit_are_refused(
    system: System, feedback: dict[str, Any], field: str, words: str
) -> None:
    batch = system.submit_body({"subjects": subjects(2), "features": [GENUINE, FORGED]})
    results = system.done(batch["batch_id"])["results"]
    assert [r["class"] for r in results] == ["genuine", "forged"]
    body = {"subjects": [r["subject"] for r in results], **feedback}
    response = system.predict.patch(f"/v1/batches/{batch['batch_id']}", json=body, headers=AUTH)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert words in response.json()["detail"]


def test_the_openapi_documents_name_the_features_and_classes(system: System) -> None:
    ingest = system.ingest.get("/openapi.json").json()
    predict = system.predict.get("/openapi.json").json()
    for document in (ingest, predict):
        assert document["info"]["x-dataset"] == {
            "name": "banknote",
            "features": NAMES,
            "classes": ["genuine", "forged"],
        }
    record = ingest["components"]["schemas"]["NamedRecord"]
    assert list(record["properties"]) == NAMES
    assert record["required"] == NAMES
    assert record["additionalProperties"] is False
    result = predict["components"]["schemas"]["BatchResult"]["properties"]["class"]
    assert result["anyOf"][0]["enum"] == ["genuine", "forged"]
    labels = predict["components"]["schemas"]["FeedbackSubmission"]["properties"]["labels"]
    assert labels["anyOf"][0]["items"]["enum"] == ["genuine", "forged"]
