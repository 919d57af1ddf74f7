"""The batch rules (``svmflow.domain.batch_rules``) worded for HTTP clients: each breach becomes a 422
naming the field at fault, the ingest API's way or the feedback route's."""

from __future__ import annotations

from api.errors import UnprocessableError
from svmflow.domain.batch_rules import (
    MAX_FEATURE_MAGNITUDE,
    BadNumber,
    Breach,
    MisalignedColumn,
    NoSubjects,
    RaggedRow,
    RepeatedSubject,
)


def submission_problem(breach: Breach, n_features: int | None, name: str = "features") -> UnprocessableError:
    """A submitted batch's breach; ``n_features`` is the current model's width, when it is known, and
    ``name`` the field the rows came in (``features`` or ``records``)."""
    if isinstance(breach, NoSubjects):
        return UnprocessableError("subjects must not be empty", field="subjects")
    if isinstance(breach, MisalignedColumn):
        return UnprocessableError(
            f"{name} has {breach.entries} rows but subjects has {breach.subjects}; send one row per subject",
            field=name,
        )
    if isinstance(breach, RepeatedSubject):
        return UnprocessableError(
            f"subject {breach.subject!r} appears twice (also at subjects[{breach.first}]); "
            "subjects must be unique",
            field=f"subjects[{breach.index}]",
        )
    if isinstance(breach, RaggedRow):
        expected = "the current model expects" if n_features is not None else "the first row has"
        return UnprocessableError(
            f"row has {breach.width} features but {expected} {breach.expected}",
            field=f"{name}[{breach.index}]",
        )
    return _number_problem(breach, name)


def _number_problem(breach: BadNumber, name: str) -> UnprocessableError:
    field = f"{name}[{breach.row}][{breach.column}]"
    if not breach.finite:
        return UnprocessableError("features must be finite numbers", field=field)
    return UnprocessableError(
        f"features must be between -{MAX_FEATURE_MAGNITUDE:g} and {MAX_FEATURE_MAGNITUDE:g}", field=field
    )


def ratings_problem(breach: Breach) -> UnprocessableError:
    """A feedback body's breach (its columns are subjects and ratings; it has no features)."""
    if isinstance(breach, MisalignedColumn):
        return UnprocessableError(
            f"{breach.name} has {breach.entries} entries but subjects has {breach.subjects}",
            field=breach.name,
        )
    if isinstance(breach, RepeatedSubject):
        return UnprocessableError(
            f"subject {breach.subject!r} is rated twice", field=f"subjects[{breach.index}]"
        )
    return UnprocessableError("subjects must not be empty", field="subjects")
