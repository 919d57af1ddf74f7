"""Property-based tests of both APIs against their own OpenAPI documents (schemathesis).

Schemathesis generates requests from each operation's schema, valid and invalid, sends them with the
local key, and checks every answer: never a 5xx, a documented status code and content type, and a body
that matches the documented schema. Bounded so the whole module runs in seconds.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.ingest import MAX_BODY_BYTES
from api.openapi import ingest_document, predict_document, with_dataset
from svmflow.datasets.spec import load_default
from tests.api.conftest import AUTH, System

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same examples every run, so a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)


# The documents are static (the default data set spec's), so they load at collection time; each call
# goes to the app built once per session, in process.
ingest = schemathesis.openapi.from_dict(with_dataset(ingest_document(MAX_BODY_BYTES), load_default()))
predict = schemathesis.openapi.from_dict(with_dataset(predict_document(), load_default()))
for _schema in (ingest, predict):
    _schema.config.update(base_url="http://testserver")
    # Valid requests and requests that break the schema (wrong types, missing fields, bad headers).
    _schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


def test_the_documents_tested_are_the_ones_served(system: System) -> None:
    assert system.ingest.get("/openapi.json").json() == ingest.raw_schema
    assert system.predict.get("/openapi.json").json() == predict.raw_schema


@ingest.parametrize()
@EXAMPLES
def test_ingest_api_never_fails_and_answers_as_documented(case: schemathesis.Case, system: System) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS, app=system.ingest.app)


@predict.parametrize()
@EXAMPLES
def test_predict_api_never_fails_and_answers_as_documented(case: schemathesis.Case, system: System) -> None:
    case.call_and_validate(headers=AUTH, checks=CHECKS, app=system.predict.app)
