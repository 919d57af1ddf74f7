"""The batch rules, owned by ``domain.batch_rules``, and how each boundary words a breach."""

from __future__ import annotations

import math

import msgspec
import pytest

from api.batch_problems import ratings_problem, submission_problem
from svmflow import contracts
from svmflow.domain.batch_rules import (
    MAX_FEATURE_MAGNITUDE,
    BadNumber,
    MisalignedColumn,
    NoSubjects,
    RaggedRow,
    RepeatedSubject,
    first_breach,
)


def test_a_clean_batch_breaks_no_rule() -> None:
    rows = [[1.0, 2.0], [3.0, -4.0]]
    assert first_breach(["a", "b"], {"features": rows}, features=rows, width=2, check_numbers=True) is None


def test_the_first_rule_broken_is_reported_in_order() -> None:
    assert first_breach([], {"ratings": []}) == NoSubjects()
    # Misaligned beats repeated: the columns are checked first.
    assert first_breach(["a", "a"], {"ratings": [1]}) == MisalignedColumn("ratings", 1, 2)
    assert first_breach(["a", "b", "a", "b"], {}) == RepeatedSubject("a", index=2, first=0)
    rows = [[1.0, 2.0], [1.0], [math.nan, 1.0]]
    assert first_breach(["a", "b", "c"], {}, features=rows) == RaggedRow(index=1, width=1, expected=2)
    assert first_breach(["a"], {}, features=[[1.0, 2.0]], width=3) == RaggedRow(index=0, width=2, expected=3)


def test_numbers_are_checked_only_when_asked() -> None:
    rows = [[1.0, 2.0], [math.inf, 1e101]]
    assert first_breach(["a", "b"], {}, features=rows) is None
    assert first_breach(["a", "b"], {}, features=rows, check_numbers=True) == BadNumber(1, 0, finite=False)
    huge = [[1.0, -2 * MAX_FEATURE_MAGNITUDE]]
    assert first_breach(["a"], {}, features=huge, check_numbers=True) == BadNumber(0, 1, finite=True)


def test_the_ingest_api_words_each_breach_with_the_field_at_fault() -> None:
    cases = [
        (MisalignedColumn("features", 1, 2), None, "features has 1 rows but subjects has 2", "features"),
        (RepeatedSubject("s", 3, 1), None, "subject 's' appears twice (also at subjects[1])", "subjects[3]"),
        (RaggedRow(2, 3, 4), 4, "row has 3 features but the current model expects 4", "features[2]"),
        (RaggedRow(2, 3, 4), None, "row has 3 features but the first row has 4", "features[2]"),
        (BadNumber(0, 1, finite=False), None, "features must be finite numbers", "features[0][1]"),
        (BadNumber(0, 1, finite=True), None, "features must be between -1e+100 and 1e+100", "features[0][1]"),
    ]
    for breach, width, detail, field in cases:
        problem = submission_problem(breach, width)
        assert problem.status == 422
        assert detail in problem.detail
        assert problem.field == field


def test_the_feedback_route_words_its_breaches() -> None:
    misaligned = ratings_problem(MisalignedColumn("ratings", 3, 2))
    assert (misaligned.detail, misaligned.field) == ("ratings has 3 entries but subjects has 2", "ratings")
    repeated = ratings_problem(RepeatedSubject("x", 4, 0))
    assert (repeated.detail, repeated.field) == ("subject 'x' is rated twice", "subjects[4]")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"subjects": ["a", "a"], "features": [[1.0], [2.0]]}, "prediction request: subjects must be unique"),
        ({"subjects": ["a", "b"], "features": [[1.0], [2.0, 3.0]]}, "every feature row must have the same"),
    ],
)
def test_the_contracts_apply_the_same_rules(fields: dict[str, object], message: str) -> None:
    document = {"batch_id": "b", "submitted_at": "2026-01-01T00:00:00Z", **fields}
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.json.decode(msgspec.json.encode(document), type=contracts.PredictionRequest)
