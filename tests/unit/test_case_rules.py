"""Completeness and the case lifecycle, from tables."""

from __future__ import annotations

import pytest

from board.cases.rules import (
    CaseStatus as C,
)
from board.cases.rules import (
    RecordKind as K,
)
from board.cases.rules import (
    Timepoint as T,
)
from board.cases.rules import (
    can_transition,
    missing_records,
    review_progress_status,
)


@pytest.mark.parametrize(
    ("timepoint", "present", "missing"),
    [
        (T.POST_BIOPSY, [], [K.PATHOLOGY_REPORT]),
        (T.POST_BIOPSY, [K.PATHOLOGY_REPORT], []),
        (T.POST_BIOPSY, [K.IMAGING_REPORT], [K.PATHOLOGY_REPORT]),
        (T.PRE_SURGERY, [K.PATHOLOGY_REPORT], [K.IMAGING_REPORT]),
        (T.PRE_SURGERY, [K.PATHOLOGY_REPORT, K.IMAGING_REPORT], []),
        (T.POST_SURGERY, [K.PATHOLOGY_REPORT], [K.OPERATIVE_REPORT]),
        (T.POST_SURGERY, [], [K.PATHOLOGY_REPORT, K.OPERATIVE_REPORT]),
        (T.POST_SURGERY, [K.PATHOLOGY_REPORT, K.OPERATIVE_REPORT, K.DISCHARGE_SUMMARY], []),
        (T.DURING_TREATMENT, [K.PATHOLOGY_REPORT], [K.TREATMENT_PLAN_SUMMARY, K.MEDICATION_LIST]),
        (T.DURING_TREATMENT, [K.PATHOLOGY_REPORT, K.TREATMENT_PLAN_SUMMARY, K.MEDICATION_LIST], []),
    ],
)
def test_a_case_misses_exactly_the_records_its_timepoint_requires(timepoint, present, missing):
    assert [r.kind for r in missing_records(timepoint, present)] == missing


def test_every_missing_record_says_why_it_is_needed():
    for timepoint in T:
        for requirement in missing_records(timepoint, []):
            assert requirement.reason


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        (C.DRAFT, C.SUBMITTED, True),
        (C.DRAFT, C.IN_REVIEW, False),
        (C.SUBMITTED, C.IN_REVIEW, True),
        (C.SUBMITTED, C.UNROUTABLE, True),
        (C.UNROUTABLE, C.IN_REVIEW, True),
        (C.IN_REVIEW, C.READY_FOR_BOARD, True),
        (C.IN_REVIEW, C.CONSENSUS, False),
        (C.READY_FOR_BOARD, C.CONSENSUS, True),
        (C.CONSENSUS, C.REPORTED, True),
        (C.CONSENSUS, C.WITHDRAWN, False),
        (C.REPORTED, C.ACKNOWLEDGED, True),
        (C.REPORTED, C.DRAFT, False),
        (C.ACKNOWLEDGED, C.REPORTED, False),
        (C.WITHDRAWN, C.SUBMITTED, False),
        (C.IN_REVIEW, C.WITHDRAWN, True),
    ],
)
def test_the_lifecycle_allows_only_its_transitions(current, target, allowed):
    assert can_transition(current, target) is allowed


@pytest.mark.parametrize(
    ("uncovered", "open_", "status"),
    [
        (1, 0, C.UNROUTABLE),
        (1, 2, C.UNROUTABLE),
        (0, 2, C.IN_REVIEW),
        (0, 0, C.READY_FOR_BOARD),
    ],
)
def test_a_case_in_review_takes_the_status_its_assignments_imply(uncovered, open_, status):
    assert review_progress_status(uncovered_specialties=uncovered, open_assignments=open_) is status
