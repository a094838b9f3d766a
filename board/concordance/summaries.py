"""Keeps the verdict summaries (board.concordance.models) equal to the signed reviews.

`refresh_case` recounts one case from its verdicts, in SQL, inside the caller's
transaction: the review signing service calls it after flushing the new review, so
the review and its counts commit together or not at all. It recounts from scratch
instead of adding to the stored counts, so calling it again is harmless and a case's
rows always equal what `rebuild` would write. Two reviews of one case are signed one
after the other (submit_review locks the case row), and under READ COMMITTED the
second recount sees the first review.

Nothing else changes what is counted: a signed review and its verdicts are never
edited or deleted, an assignment keeps its specialty and purpose, and reassigning,
declining, consensus and release touch only assignments without a review or the
case row (whose filters the dashboard reads from the cases table itself).

`rebuild` recounts every case: for data written around the service (the benchmark's
seed in SQL) and for an operator who wants to check. The migration that created the
tables (e5verdictsum01) backfills them with the same counts in plain SQL.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    case,
    delete,
    distinct,
    func,
    insert,
    select,
    true,
)

from board.auth.roles import Specialty
from board.concordance.models import (
    CaseVerdictSummary,
    DifferReasonSummary,
    SpecialtyVerdictSummary,
)
from board.extensions import db
from board.reviews.models import (
    Assignment,
    Dimension,
    Purpose,
    Review,
    ReviewVerdict,
    Severity,
    Verdict,
)

DIMENSIONS = tuple(d.value for d in Dimension)
LEVELS = ("concur", "minor", "major")
# The nine count columns, "diagnosis_concur" to "plan_major", in that order.
COUNT_COLUMNS = tuple(f"{d}_{level}" for d in DIMENSIONS for level in LEVELS)


def verdict_level() -> ColumnElement[int]:
    """0 concur, 2 differ major, 1 any other differ (minor)."""
    return case(
        (ReviewVerdict.verdict == Verdict.CONCUR.value, 0),
        (ReviewVerdict.severity == Severity.MAJOR.value, 2),
        else_=1,
    )


def _specialty_counts(case_id: int | None) -> Select[Any]:
    level = verdict_level()
    columns: list[Any] = [Review.case_id.label("case_id"), Assignment.specialty]
    for dimension in DIMENSIONS:
        on = ReviewVerdict.dimension == dimension
        for index, name in enumerate(LEVELS):
            count = func.count().filter(and_(on, level == index))
            columns.append(count.label(f"{dimension}_{name}"))
    for dimension in DIMENSIONS:
        primary = and_(
            ReviewVerdict.dimension == dimension, Assignment.purpose == Purpose.PRIMARY.value
        )
        columns.append(func.max(level).filter(primary).label(f"primary_{dimension}"))
    is_additional = Assignment.purpose == Purpose.ADDITIONAL.value
    additional_reviews = func.count(distinct(case((is_additional, Review.id), else_=None)))
    columns.append(additional_reviews.label("additional_reviews"))
    for dimension in DIMENSIONS:
        additional = and_(ReviewVerdict.dimension == dimension, is_additional)
        for index, name in enumerate(LEVELS):
            count = func.count().filter(and_(additional, level == index))
            columns.append(count.label(f"additional_{dimension}_{name}"))
    query = (
        select(*columns)
        .select_from(ReviewVerdict)
        .join(Review, Review.id == ReviewVerdict.review_id)
        .join(Assignment, Assignment.id == Review.assignment_id)
        .group_by(Review.case_id, Assignment.specialty)
    )
    if case_id is not None:
        query = query.where(Review.case_id == case_id)
    return query


def _case_counts(case_id: int | None) -> Select[Any]:
    s = SpecialtyVerdictSummary
    pathology = case(
        (s.specialty != Specialty.PATHOLOGY.value, None),
        (s.diagnosis_major > 0, 2),
        (s.diagnosis_minor > 0, 1),
        (s.diagnosis_concur > 0, 0),
        else_=None,
    )
    query = select(
        s.case_id,
        *(func.sum(getattr(s, name)).label(name) for name in COUNT_COLUMNS),
        func.max(pathology).label("pathology_diagnosis"),
    ).group_by(s.case_id)
    if case_id is not None:
        query = query.where(s.case_id == case_id)
    return query


def _reason_counts(case_id: int | None) -> Select[Any]:
    unnest = (
        func.jsonb_array_elements_text
        if db.session.get_bind().dialect.name == "postgresql"
        else func.json_each
    )
    reason = unnest(ReviewVerdict.reasons).table_valued("value").alias("reason")
    query = (
        select(
            Review.case_id.label("case_id"),
            Assignment.specialty,
            ReviewVerdict.dimension,
            reason.c.value.label("reason"),
            func.count().label("verdicts"),
        )
        .select_from(ReviewVerdict)
        .join(reason, true())
        .join(Review, Review.id == ReviewVerdict.review_id)
        .join(Assignment, Assignment.id == Review.assignment_id)
        .where(ReviewVerdict.verdict == Verdict.DIFFER.value)
        .group_by(Review.case_id, Assignment.specialty, ReviewVerdict.dimension, reason.c.value)
    )
    if case_id is not None:
        query = query.where(Review.case_id == case_id)
    return query


SUMMARIES = (CaseVerdictSummary, SpecialtyVerdictSummary, DifferReasonSummary)


def _write(case_id: int | None) -> None:
    specialty_rows = _specialty_counts(case_id)
    db.session.execute(
        insert(SpecialtyVerdictSummary).from_select(
            [c.name for c in specialty_rows.selected_columns], specialty_rows
        )
    )
    case_rows = _case_counts(case_id)
    db.session.execute(
        insert(CaseVerdictSummary).from_select(
            [c.name for c in case_rows.selected_columns], case_rows
        )
    )
    reason_rows = _reason_counts(case_id)
    db.session.execute(
        insert(DifferReasonSummary).from_select(
            [c.name for c in reason_rows.selected_columns], reason_rows
        )
    )


def refresh_case(case_id: int) -> None:
    """Recounts one case's summaries from its signed reviews (no commit: the caller's
    transaction owns it). Call it after the session has flushed the change."""
    for summary in SUMMARIES:
        db.session.execute(delete(summary).where(summary.case_id == case_id))
    _write(case_id)


def rebuild() -> None:
    """Recounts every case (no commit)."""
    for summary in SUMMARIES:
        db.session.execute(delete(summary))
    _write(None)
