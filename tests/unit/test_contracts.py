from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from svmflow import contracts, schemas, topology
from svmflow.contracts import Feedback, PredictionRequest


def request_json(**overrides: object) -> bytes:
    body: dict[str, object] = {
        "batch_id": "b1",
        "subjects": ["a", "b"],
        "features": [[1.0, 2.0, 3.0, 4.0], [5, 6, 7, 8]],
        "submitted_at": "2026-01-01T00:00:00Z",
    }
    body.update(overrides)
    return msgspec.json.encode(body)


def test_round_trip_keeps_every_field() -> None:
    request = PredictionRequest(
        batch_id="b1", subjects=["a"], features=[[1.5, 2, 3, 4]], submitted_at=datetime.now(UTC)
    )
    decoded = contracts.decode(contracts.encode(request), PredictionRequest)
    assert decoded == request
    assert decoded.schema_version == contracts.SCHEMA_VERSION


def test_integers_are_accepted_as_features() -> None:
    assert contracts.decode(request_json(), PredictionRequest).features[1] == [5.0, 6.0, 7.0, 8.0]


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"subjects": ["a"]}, "features has 2 entries but subjects has 1"),
        ({"subjects": ["a", "a"]}, "unique"),
        ({"subjects": [], "features": []}, "must not be empty"),
        ({"features": [[True, 2, 3, 4], [1, 2, 3, 4]]}, "`$.features[0][0]`"),
        ({"features": [["1", 2, 3, 4], [1, 2, 3, 4]]}, "`$.features[0][0]`"),
        ({"features": [[1, 2, 3, 4], [1, 2, 3]]}, "same length"),
        ({"subjects": ["a", "x" * 129]}, "`$.subjects[1]`"),
        ({"schema_version": 2}, "`$.schema_version`"),
        ({"extra": 1}, "unknown field `extra`"),
    ],
)
def test_invalid_requests_name_the_problem(overrides: dict[str, object], fragment: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=None) as caught:
        contracts.decode(request_json(**overrides), PredictionRequest)
    assert fragment in str(caught.value)


def test_nan_is_not_json() -> None:
    with pytest.raises(msgspec.DecodeError):
        contracts.decode(request_json().replace(b"1.0", b"NaN", 1), PredictionRequest)


def test_feedback_ratings_are_zero_or_one() -> None:
    body = b'{"batch_id":"b","subjects":["a"],"ratings":[2],"rated_at":"2026-01-01T00:00:00Z"}'
    with pytest.raises(msgspec.ValidationError, match="ratings"):
        contracts.decode(body, Feedback)


def test_every_topic_has_a_contract_and_a_schema() -> None:
    assert set(contracts.MESSAGE_TYPES) == set(topology.TOPICS)
    assert set(contracts.json_schemas()) == set(topology.TOPICS)


def test_schema_directory_matches_the_code() -> None:
    """Fails when a contract or table changes without `make schema`."""
    assert schemas.drift(schemas.SCHEMA_DIR) == []


def test_drift_is_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    schemas.write(tmp_path)
    (tmp_path / "messages" / "feedback.schema.json").write_text("{}")
    assert schemas.drift(tmp_path) == [tmp_path / "messages" / "feedback.schema.json"]
