"""OpenAPI 3.1 documents for both APIs, with the body schemas generated from ``api.models``."""

from __future__ import annotations

from typing import Any

import msgspec

from api import batch_ids
from api.errors import PROBLEM_JSON, Problem
from api.models import (
    Batch,
    BatchAccepted,
    BatchFailure,
    BatchPage,
    BatchPending,
    BatchSubmission,
    BulkAccepted,
    BulkJob,
    BulkPending,
    BulkSubmission,
    DeadLetterListing,
    Deliveries,
    ExplainedBatch,
    FeedbackAccepted,
    FeedbackSubmission,
    Health,
    JobListing,
    Me,
    ModelDrift,
    ModelListing,
    ModelPerformance,
    ReplayAccepted,
    RollbackAccepted,
    RollbackSubmission,
    TrainingLabels,
)
from svmflow.contracts import MAX_FEATURES, MAX_ROWS
from svmflow.datasets.spec import DatasetSpec, FeatureSpec
from svmflow.views import CurrentModelView, TrainingRowsView

_TYPES = (
    BatchSubmission,
    BatchAccepted,
    BatchPending,
    Batch,
    ExplainedBatch,
    BatchFailure,
    Deliveries,
    BatchPage,
    DeadLetterListing,
    ReplayAccepted,
    FeedbackSubmission,
    FeedbackAccepted,
    ModelListing,
    JobListing,
    TrainingRowsView,
    TrainingLabels,
    CurrentModelView,
    ModelPerformance,
    ModelDrift,
    Health,
    Me,
    Problem,
    BulkSubmission,
    BulkAccepted,
    BulkPending,
    BulkJob,
    RollbackAccepted,
    RollbackSubmission,
)
# The read model's views as the API reference names them (the names are part of the published document).
_PUBLIC_NAMES = {
    "CurrentModelView": "CurrentModel",
    "DeadLetterView": "DeadLetterItem",
    "JobView": "Job",
    "ModelVersionView": "ModelVersion",
    "TrainingRowsView": "TrainingRows",
}
_PROBLEMS = {
    400: "Malformed request: not HTTP/1.1 (a bad request line, Content-Length or chunk size), "
    "a body that is not UTF-8 JSON or repeats a key, a bad header, query parameter or cursor",
    401: "Missing or wrong API key",
    403: "The API key lacks the role the action needs (operator)",
    404: "No such batch (an id this system never issued) or resource",
    408: "The request did not arrive whole within the server's deadline (30 s)",
    409: "Conflict with the current state (see detail)",
    413: "Body over the size limit",
    415: "Body not application/json, or an encoding other than gzip",
    422: "The body is valid JSON but not a valid request; `field` names the value at fault",
    431: "Request headers too large",
    503: "A dependency (Pub/Sub, Redis) is unavailable, or no model is in production yet",
}
# Any request can be malformed HTTP, arrive too slowly or carry too many headers: the server answers
# these before any route is chosen.
_ANY_REQUEST = (400, 408, 431)
_SECURITY: list[dict[str, list[str]]] = [{"ApiKey": []}, {"Bearer": []}]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(name)}},
    }
    if headers:
        response["headers"] = headers
    return response


def _problems(*statuses: int) -> dict[str, Any]:
    return {
        str(status): {
            "description": _PROBLEMS[status],
            "content": {PROBLEM_JSON: {"schema": _ref("Problem")}},
        }
        for status in sorted({*statuses, *_ANY_REQUEST})
    }


def _operation(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": _SECURITY, "responses": responses, **extra}


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


_LIMIT = {
    "name": "limit",
    "in": "query",
    "required": False,
    "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
}
_BATCH_ID = {
    "name": "batch_id",
    "in": "path",
    "required": True,
    "description": "An id returned by POST /v1/batches",
    "schema": {"type": "string", "pattern": f"^[0-9a-f]{{{batch_ids.NONCE_BYTES * 2}}}-[0-9a-f]+$"},
}

_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
}
_JOB_ID = {
    "name": "job_id",
    "in": "path",
    "required": True,
    "description": "An id returned by POST /v1/jobs/bulk",
    "schema": {"type": "string", "pattern": f"^[0-9a-f]{{{batch_ids.NONCE_BYTES * 2}}}-[0-9a-f]+$"},
}


def _health_paths() -> dict[str, Any]:
    return {
        "/healthz": {
            "get": {
                "summary": "The process is up",
                "security": [],
                "responses": {"200": _json("Health", "Up"), **_problems()},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Pub/Sub and Redis are reachable",
                "security": [],
                "responses": {"200": _json("Health", "Ready"), **_problems(503)},
            }
        },
    }


def _public(schema: Any) -> Any:
    """``schema`` with the views' component references under their public names."""
    if isinstance(schema, dict):
        return {
            key: _ref(_PUBLIC_NAMES.get(value.rsplit("/", 1)[-1], value.rsplit("/", 1)[-1]))["$ref"]
            if key == "$ref"
            else _public(value)
            for key, value in schema.items()
        }
    if isinstance(schema, list):
        return [_public(value) for value in schema]
    return schema


def _components() -> dict[str, Any]:
    """The body schemas, each under its public name."""
    _, generated = msgspec.json.schema_components(_TYPES, ref_template="#/components/schemas/{name}")
    components = {}
    for name, schema in generated.items():
        public = _PUBLIC_NAMES.get(name, name)
        components[public] = {**_public(schema), "title": public} if "title" in schema else _public(schema)
    return components


def _document(title: str, description: str, paths: dict[str, Any]) -> dict[str, Any]:
    components = _components()
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "1", "description": description},
        "paths": {**paths, **_health_paths()},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


def with_dataset(document: dict[str, Any], spec: DatasetSpec) -> dict[str, Any]:
    """``document`` naming the served data set: the features a record has (in order, with bounds and
    units) and the classes a result or a feedback label may be."""
    schemas = document["components"]["schemas"]
    width = len(spec.features)
    row = {
        "type": "array",
        "items": {"type": "number"},
        "minItems": width,
        "maxItems": width,
        "description": f"The features in this order: {', '.join(spec.feature_names)}",
    }
    named: dict[str, Any] = {
        "type": "object",
        "description": f"A record of the data set {spec.name!r}, keyed by feature name",
        "properties": {f.name: _feature_schema(f) for f in spec.features},
        "required": spec.feature_names,
        "additionalProperties": False,
    }
    schemas["NamedRecord"] = named
    submission = schemas["BatchSubmission"]["properties"]
    submission["features"]["anyOf"][0]["items"] = row
    submission["records"]["anyOf"][0]["items"] = {"anyOf": [row, _ref("NamedRecord")]}
    classes = {"type": "string", "enum": spec.class_names}
    for name in ("BatchResult", "ExplainedResult"):
        if name in schemas:
            schemas[name]["properties"]["class"] = {"anyOf": [classes, {"type": "null"}], "default": None}
    labels = schemas["FeedbackSubmission"]["properties"]["labels"]["anyOf"][0]
    labels["items"] = classes
    info = document["info"]
    info["description"] += (
        f" Data set {spec.name!r}: features {', '.join(spec.feature_names)}; "
        f"classes {', '.join(spec.class_names)} (a result's label is the class's position)."
    )
    info["x-dataset"] = {
        "name": spec.name,
        "features": spec.feature_names,
        "classes": spec.class_names,
    }
    return document


def _feature_schema(feature: FeatureSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "number"}
    if feature.min is not None:
        schema["minimum"] = feature.min
    if feature.max is not None:
        schema["maximum"] = feature.max
    if feature.unit is not None:
        schema["description"] = f"in {feature.unit}"
    return schema


def ingest_document(max_body_bytes: int) -> dict[str, Any]:
    submit = _operation(
        "Submit a batch of records to classify",
        {
            "202": _json(
                "BatchAccepted",
                "Accepted by Pub/Sub; poll the Location (the predict API) for the results",
                headers={"Location": {"schema": {"type": "string"}, "description": "The batch's URL"}},
            ),
            **_problems(401, 413, 415, 422, 503),
        },
        description=(
            f"At most {MAX_ROWS} rows, {MAX_FEATURES} features per row (exactly as many as the current "
            f"model expects) and {max_body_bytes} bytes of JSON (after inflating a gzip body). "
            "With an Idempotency-Key, a retried request answers the same batch id."
        ),
        parameters=[_IDEMPOTENCY_KEY],
        requestBody=_body("BatchSubmission"),
    )
    bulk = _operation(
        "Predict every row of a CSV or JSON-lines file in the bucket",
        {
            "202": _json(
                "BulkAccepted",
                "Accepted by Pub/Sub; follow the Location (the predict API) for progress",
                headers={"Location": {"schema": {"type": "string"}, "description": "The job's URL"}},
            ),
            **_problems(400, 401, 404, 413, 415, 422, 503),
        },
        description=(
            "The file must be under bulk/ in the bucket. Its head is checked now: a missing file is a "
            "404, an unreadable one or one in another format a 422 naming `uri`. Bad rows found later "
            "are listed with their line numbers in the job's error file."
        ),
        parameters=[_IDEMPOTENCY_KEY],
        requestBody=_body("BulkSubmission"),
    )
    return _document(
        "svmflow ingest API",
        "Accepts batches of records and bulk files and publishes them for prediction.",
        {"/v1/batches": {"post": submit}, "/v1/jobs/bulk": {"post": bulk}},
    )


def predict_document() -> dict[str, Any]:
    return _document(
        "svmflow predict API",
        "Serves predictions and model history from the read model; publishes feedback.",
        {
            "/v1/batches": _batch_listing(),
            "/v1/batches/{batch_id}": _batch(),
            "/v1/batches/{batch_id}/training-labels": _training_labels(),
            "/v1/models/current": _current_model(),
            "/v1/models": _model_listing(),
            "/v1/models/{version}/performance": _model_performance(),
            "/v1/models/{version}/drift": _model_drift(),
            "/v1/models/rollback": _rollback(),
            "/v1/batches/{batch_id}/deliveries": _deliveries(),
            "/v1/dead-letters": _dead_letter_listing(),
            "/v1/dead-letters/{message_id}/replay": _dead_letter_replay(),
            "/v1/me": _me(),
            "/v1/jobs": _job_listing(),
            "/v1/jobs/bulk/{job_id}": _bulk_job(),
            "/v1/training-rows": _training_rows(),
        },
    )


# The predict API's path items, in the order predict_document lists them.


def _batch_listing() -> dict[str, Any]:
    listing = _operation(
        "Batches with results, newest first",
        {
            "200": _json("BatchPage", "One page; pass next_cursor to get the next"),
            **_problems(401, 503),
        },
        parameters=[
            _LIMIT,
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
        ],
    )
    return {"get": listing}


def _batch() -> dict[str, Any]:
    return {
        "parameters": [_BATCH_ID],
        "get": _operation(
            "A batch's results, or pending",
            {
                "200": {
                    "description": (
                        "The results, one per subject; with explain=true, each with every feature's "
                        "exact contribution to the decision (an ExplainedBatch); or `failed` with the "
                        "reason, when the batch's prediction request was dead-lettered (an operator's "
                        "replay makes it pending)"
                    ),
                    "content": {
                        "application/json": {
                            "schema": {"anyOf": [_ref("Batch"), _ref("ExplainedBatch"), _ref("BatchFailure")]}
                        }
                    },
                },
                "202": _json("BatchPending", "Accepted, results not in yet", headers={"Retry-After": {}}),
                **_problems(400, 401, 404, 409, 503),
            },
            parameters=[
                {
                    "name": "explain",
                    "in": "query",
                    "required": False,
                    "description": "true: add each feature's contribution (weight x standardised value)",
                    "schema": {"type": "string", "enum": ["true", "false"], "default": "false"},
                }
            ],
        ),
        "patch": _operation(
            "Rate a batch's predictions (1: right, 0: wrong)",
            {
                "202": _json("FeedbackAccepted", "Published to the feedback topic"),
                **_problems(401, 404, 409, 413, 415, 422, 503),
            },
            requestBody=_body("FeedbackSubmission"),
        ),
    }


def _training_labels() -> dict[str, Any]:
    return {
        "parameters": [_BATCH_ID],
        "get": _operation(
            "Which of a batch's rated records have their label in the training data",
            {
                "200": _json(
                    "TrainingLabels",
                    "One entry per subject whose newest rating reached the training data; "
                    "a rating accepted at rated_at has arrived once its entry's rated_at is "
                    "that time or later",
                ),
                **_problems(401, 404, 503),
            },
        ),
    }


def _current_model() -> dict[str, Any]:
    return {
        "get": _operation(
            "The model in production",
            {"200": _json("CurrentModel", "The current model"), **_problems(401, 404, 503)},
        )
    }


def _model_listing() -> dict[str, Any]:
    return {
        "get": _operation(
            "Model versions with metrics and promotion decisions, newest first",
            {"200": _json("ModelListing", "Model versions"), **_problems(401, 503)},
            parameters=[_LIMIT],
        )
    }


def _model_performance() -> dict[str, Any]:
    return {
        "get": _operation(
            "Live performance of a model version from rated predictions",
            {
                "200": _json(
                    "ModelPerformance",
                    "Accuracy, balanced accuracy and per-class recall, overall and per day, "
                    "each with its 95% Wilson interval and the number of labels behind it",
                ),
                **_problems(401, 404, 503),
            },
            parameters=[{"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    }


def _model_drift() -> dict[str, Any]:
    return {
        "get": _operation(
            "Input drift of a model version: its live inputs against its training data",
            {
                "200": _json(
                    "ModelDrift",
                    "Per feature, PSI, KS distance and p-value of the latest closed window; "
                    "before the first window closes, the records counted and no figures",
                ),
                **_problems(401, 404, 503),
            },
            parameters=[{"name": "version", "in": "path", "required": True, "schema": {"type": "string"}}],
        )
    }


def _rollback() -> dict[str, Any]:
    return {
        "post": _operation(
            "Serve an earlier model version again (operator keys only)",
            {
                "202": _json(
                    "RollbackAccepted", "Published to rollback-requests; see /v1/jobs for the outcome"
                ),
                **_problems(400, 401, 403, 404, 409, 413, 415, 422, 503),
            },
            description=(
                "A command: the rollback function re-points production and records the job. "
                "With `{}`, the newest promoted version before the current one."
            ),
            requestBody=_body("RollbackSubmission"),
        )
    }


def _deliveries() -> dict[str, Any]:
    return {
        "parameters": [_BATCH_ID],
        "get": _operation(
            "A batch's completion webhooks and every delivery attempt",
            {
                "200": _json("Deliveries", "Deliveries, empty until one is recorded"),
                **_problems(401, 404, 503),
            },
        ),
    }


def _dead_letter_listing() -> dict[str, Any]:
    return {
        "get": _operation(
            "Dead letters waiting for an operator, newest first (operator keys only)",
            {"200": _json("DeadLetterListing", "Dead letters"), **_problems(401, 403, 503)},
            parameters=[_LIMIT],
        )
    }


def _dead_letter_replay() -> dict[str, Any]:
    return {
        "parameters": [{"name": "message_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "post": _operation(
            "Publish a dead letter again to the topic it came from (operator keys only)",
            {
                "202": _json(
                    "ReplayAccepted",
                    "Published to dead-letter-replays; the dead letter leaves the listing",
                ),
                **_problems(401, 403, 404, 503),
            },
            description=(
                "A command: the replay function publishes the message again and removes it "
                "from the listing; a failed batch is pending again until it is predicted."
            ),
        ),
    }


def _me() -> dict[str, Any]:
    return {
        "get": _operation(
            "The caller's role (user or operator), to tell whether a key is valid and what it may do",
            {"200": _json("Me", "The role of the key presented"), **_problems(401)},
        )
    }


def _job_listing() -> dict[str, Any]:
    return {
        "get": _operation(
            "Recent training jobs and their outcome, newest first",
            {"200": _json("JobListing", "Training jobs"), **_problems(401, 503)},
            parameters=[_LIMIT],
        )
    }


def _bulk_job() -> dict[str, Any]:
    return {
        "parameters": [_JOB_ID],
        "get": _operation(
            "A bulk job's progress: rows done of the total, rate, ETA, output files",
            {
                "200": _json("BulkJob", "Progress, and the output files once done"),
                "202": _json("BulkPending", "Accepted, not started yet", headers={"Retry-After": {}}),
                **_problems(401, 404, 503),
            },
        ),
    }


def _training_rows() -> dict[str, Any]:
    return {
        "get": _operation(
            "Training rows by source and status, and the quarantined rows with their reasons",
            {
                "200": _json("TrainingRows", "As of the newest training"),
                **_problems(400, 401, 404, 503),
            },
            parameters=[
                {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
                for name in ("status", "source", "batch_id")
            ],
        )
    }
