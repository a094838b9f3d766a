"""Pure rules of case intake: which records a timepoint needs, and the case lifecycle.

No Flask, SQLAlchemy or Celery here: these are the clinical rules of domain.md,
tested from tables in tests/unit.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Timepoint(enum.StrEnum):
    POST_BIOPSY = "post_biopsy"
    PRE_SURGERY = "pre_surgery"
    POST_SURGERY = "post_surgery"
    DURING_TREATMENT = "during_treatment"


TIMEPOINT_LABEL = {
    Timepoint.POST_BIOPSY: "After biopsy",
    Timepoint.PRE_SURGERY: "Before surgery",
    Timepoint.POST_SURGERY: "Post-surgery plan",
    Timepoint.DURING_TREATMENT: "During or after treatment",
}


class RecordKind(enum.StrEnum):
    PATHOLOGY_REPORT = "pathology_report"
    IMAGING_REPORT = "imaging_report"
    OPERATIVE_REPORT = "operative_report"
    DISCHARGE_SUMMARY = "discharge_summary"
    TREATMENT_PLAN_SUMMARY = "treatment_plan_summary"
    MEDICATION_LIST = "medication_list"


RECORD_LABEL = {
    RecordKind.PATHOLOGY_REPORT: "Pathology report",
    RecordKind.IMAGING_REPORT: "Imaging report",
    RecordKind.OPERATIVE_REPORT: "Operative report",
    RecordKind.DISCHARGE_SUMMARY: "Discharge summary",
    RecordKind.TREATMENT_PLAN_SUMMARY: "Treatment plan summary",
    RecordKind.MEDICATION_LIST: "Medication list",
}


@dataclass(frozen=True)
class RequiredRecord:
    kind: RecordKind
    reason: str


_PATHOLOGY = RequiredRecord(
    RecordKind.PATHOLOGY_REPORT, "every case needs the pathology report (domain.md)"
)

# domain.md, "The records a complete case carries": the pathology report always;
# a pre-surgery case its imaging; a post-surgery case the operative report (the
# surgical pathology is the pathology report). A case during treatment is judged
# on how treatment has gone, so it needs the treatment plan summary and the
# medication list with doses: our reading, recorded here so it can be argued with.
REQUIRED_RECORDS: dict[Timepoint, tuple[RequiredRecord, ...]] = {
    Timepoint.POST_BIOPSY: (_PATHOLOGY,),
    Timepoint.PRE_SURGERY: (
        _PATHOLOGY,
        RequiredRecord(
            RecordKind.IMAGING_REPORT,
            "a pre-surgery opinion reads the mammogram, ultrasound or MRI",
        ),
    ),
    Timepoint.POST_SURGERY: (
        _PATHOLOGY,
        RequiredRecord(
            RecordKind.OPERATIVE_REPORT, "a post-surgery plan depends on the surgery performed"
        ),
    ),
    Timepoint.DURING_TREATMENT: (
        _PATHOLOGY,
        RequiredRecord(
            RecordKind.TREATMENT_PLAN_SUMMARY, "judging treatment so far needs the plan given"
        ),
        RequiredRecord(
            RecordKind.MEDICATION_LIST, "judging treatment so far needs the drugs and doses given"
        ),
    ),
}


def missing_records(timepoint: Timepoint, present: Iterable[RecordKind]) -> list[RequiredRecord]:
    have = set(present)
    return [req for req in REQUIRED_RECORDS[timepoint] if req.kind not in have]


class CaseStatus(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    IN_REVIEW = "in_review"
    READY_FOR_BOARD = "ready_for_board"
    CONSENSUS = "consensus"
    REPORTED = "reported"
    ACKNOWLEDGED = "acknowledged"
    UNROUTABLE = "unroutable"
    AWAITING_RECORDS = "awaiting_records"
    WITHDRAWN = "withdrawn"


STATUS_LABEL = {
    CaseStatus.DRAFT: "Draft",
    CaseStatus.SUBMITTED: "Submitted",
    CaseStatus.IN_REVIEW: "In review",
    CaseStatus.READY_FOR_BOARD: "Ready for board",
    CaseStatus.CONSENSUS: "Consensus recorded",
    CaseStatus.REPORTED: "Second opinion released",
    CaseStatus.ACKNOWLEDGED: "Acknowledged",
    CaseStatus.UNROUTABLE: "Unroutable",
    CaseStatus.AWAITING_RECORDS: "Awaiting records",
    CaseStatus.WITHDRAWN: "Withdrawn",
}

S = CaseStatus
_WAIT = S.AWAITING_RECORDS
ALLOWED_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    S.DRAFT: frozenset({S.SUBMITTED, S.WITHDRAWN}),
    S.SUBMITTED: frozenset({S.IN_REVIEW, S.UNROUTABLE, S.READY_FOR_BOARD, S.WITHDRAWN}),
    S.IN_REVIEW: frozenset({S.READY_FOR_BOARD, S.UNROUTABLE, _WAIT, S.WITHDRAWN}),
    S.UNROUTABLE: frozenset({S.IN_REVIEW, S.READY_FOR_BOARD, _WAIT, S.WITHDRAWN}),
    S.READY_FOR_BOARD: frozenset({S.CONSENSUS, S.IN_REVIEW, S.UNROUTABLE, _WAIT, S.WITHDRAWN}),
    # Back to review when the records arrive (review_progress_status decides which).
    _WAIT: frozenset({S.IN_REVIEW, S.UNROUTABLE, S.READY_FOR_BOARD, S.WITHDRAWN}),
    S.CONSENSUS: frozenset({S.REPORTED}),
    S.REPORTED: frozenset({S.ACKNOWLEDGED}),
    S.ACKNOWLEDGED: frozenset(),
    S.WITHDRAWN: frozenset(),
}

# Statuses in which the reviewers' work decides the status (see review_progress_status).
REVIEW_PHASE = frozenset({S.SUBMITTED, S.IN_REVIEW, S.UNROUTABLE, S.READY_FOR_BOARD})
# Reviewers may still sign while the case waits on records another reviewer asked for.
REVIEWS_OPEN = REVIEW_PHASE | {S.AWAITING_RECORDS}


def can_transition(current: CaseStatus, target: CaseStatus) -> bool:
    return target in ALLOWED_TRANSITIONS[current]


def review_progress_status(*, uncovered_specialties: int, open_assignments: int) -> CaseStatus:
    """The status a case in review should have, from its assignments.

    A specialty nobody covers makes the case unroutable (the coordinator must act);
    otherwise it is in review until every active assignment has its review.
    """
    if uncovered_specialties:
        return S.UNROUTABLE
    if open_assignments:
        return S.IN_REVIEW
    return S.READY_FOR_BOARD
