"""What a reviewer's structured alternatives imply: the markers they stage with, and
the board's own stage groups for their stage alternative. Shared by the JSON API and
the pages, so both show the same computed groups."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from board.cases.stage_check import StageCheck, check_stage

if TYPE_CHECKING:
    from board.cases.case_file import FileReview
    from board.reviews.models import Review


def reviewer_diagnosis(review: Review | FileReview) -> dict[str, Any]:
    """The markers the reviewer stages with: their own diagnosis alternative over the case's."""
    case_diagnosis = dict(review.assignment.case.diagnosis or {})
    verdict = review.verdict_for("diagnosis")
    alternative = verdict.alternative if verdict else None
    if alternative and "text" not in alternative:
        case_diagnosis.update(alternative)
    return case_diagnosis


def alternative_staging(review: Review | FileReview) -> StageCheck | None:
    """The reviewer's own T/N/M staged by the board and checked against the groups
    they gave; None when their stage verdict carries no structured alternative."""
    verdict = review.verdict_for("stage")
    alternative = verdict.alternative if verdict else None
    if not alternative or "text" in alternative:
        return None
    return check_stage(alternative, reviewer_diagnosis(review))
