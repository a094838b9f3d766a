"""The routing policy from tables: who must review, who may, who is chosen."""

from __future__ import annotations

import datetime as dt

import pytest

from board.auth.roles import Specialty as S
from board.cases.rules import Timepoint as T
from board.routing.policy import (
    CaseFacts,
    Choice,
    Gap,
    Reviewer,
    choose_reviewer,
    required_specialties,
    route,
)

HOME, AWAY, OTHER = 1, 2, 3


def facts(timepoint: T = T.POST_BIOPSY, **kwargs: object) -> CaseFacts:
    return CaseFacts(timepoint=timepoint, referrer_id=100, referrer_institution_id=HOME, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("timepoint", "requested", "reconstruction", "expected"),
    [
        (T.POST_BIOPSY, (), False, {S.PATHOLOGY}),
        (T.POST_BIOPSY, (S.BREAST_RADIOLOGY,), False, {S.PATHOLOGY, S.BREAST_RADIOLOGY}),
        (T.PRE_SURGERY, (), False, {S.BREAST_SURGERY, S.BREAST_RADIOLOGY, S.MEDICAL_ONCOLOGY}),
        (
            T.PRE_SURGERY,
            (),
            True,
            {S.BREAST_SURGERY, S.BREAST_RADIOLOGY, S.MEDICAL_ONCOLOGY, S.PLASTIC_SURGERY},
        ),
        (T.POST_SURGERY, (), False, {S.MEDICAL_ONCOLOGY, S.RADIATION_ONCOLOGY, S.PATHOLOGY}),
        (T.POST_SURGERY, (), True, {S.MEDICAL_ONCOLOGY, S.RADIATION_ONCOLOGY, S.PATHOLOGY}),
        (T.DURING_TREATMENT, (), False, {S.MEDICAL_ONCOLOGY}),
        (
            T.DURING_TREATMENT,
            (S.RADIATION_ONCOLOGY, S.MEDICAL_ONCOLOGY),
            False,
            {S.MEDICAL_ONCOLOGY, S.RADIATION_ONCOLOGY},
        ),
    ],
)
def test_each_timepoint_needs_the_specialties_of_the_domain_table(
    timepoint, requested, reconstruction, expected
):
    case = facts(timepoint, requested_specialties=requested, reconstruction_asked=reconstruction)
    assert {r.specialty for r in required_specialties(case)} == expected


def test_a_requested_specialty_says_the_referrer_asked_for_it():
    (_, asked) = required_specialties(facts(requested_specialties=(S.BREAST_RADIOLOGY,)))
    assert asked.reason == "requested by the referring oncologist"


def pathologist(id: int, institution: int = AWAY, **kwargs: object) -> Reviewer:
    return Reviewer(id=id, specialty=S.PATHOLOGY, institution_id=institution, **kwargs)  # type: ignore[arg-type]


EARLY = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
LATE = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("roster", "case_kwargs", "chosen", "why"),
    [
        # Least loaded wins.
        (
            [pathologist(1, open_assignments=3), pathologist(2, open_assignments=1)],
            {},
            2,
            "least loaded",
        ),
        # Equal load: whoever waited longest since their last assignment.
        (
            [pathologist(1, last_assigned_at=LATE), pathologist(2, last_assigned_at=EARLY)],
            {},
            2,
            "longest since last assignment",
        ),
        # Never assigned counts as waiting longest.
        ([pathologist(1, last_assigned_at=EARLY), pathologist(2)], {}, 2, "never assigned"),
        # Full tie: the lower id, so the choice is stable.
        ([pathologist(2), pathologist(1)], {}, 1, "stable tie-break"),
        # Conflict of interest: the referrer's institution is excluded even if idle.
        (
            [pathologist(1, institution=HOME), pathologist(2, open_assignments=5)],
            {},
            2,
            "conflict of interest",
        ),
        # Inactive accounts are never chosen.
        ([pathologist(1, active=False), pathologist(2, open_assignments=5)], {}, 2, "inactive"),
        # A reviewer who declined is not offered the case again.
        (
            [pathologist(1), pathologist(2, open_assignments=5)],
            {"excluded_reviewer_ids": frozenset({1})},
            2,
            "declined",
        ),
        # A network restriction keeps only in-network reviewers.
        (
            [
                pathologist(1),
                pathologist(2, open_assignments=5, insurer_networks=frozenset({"Acme"})),
            ],
            {"insurer": "Acme", "network_restricted": True},
            2,
            "network",
        ),
        # Without the restriction, the network does not matter.
        (
            [
                pathologist(1),
                pathologist(2, open_assignments=5, insurer_networks=frozenset({"Acme"})),
            ],
            {"insurer": "Acme", "network_restricted": False},
            1,
            "no restriction",
        ),
    ],
)
def test_the_least_loaded_eligible_reviewer_is_chosen(roster, case_kwargs, chosen, why):
    decision = route(facts(**case_kwargs), roster)
    assert [c.reviewer_id for c in decision.choices] == [chosen], why
    assert decision.gaps == ()


def test_the_referrer_never_reviews_their_own_case():
    me = Reviewer(id=100, specialty=S.PATHOLOGY, institution_id=OTHER)
    decision = route(facts(), [me])
    assert decision.choices == ()
    assert "is the referrer" in decision.gaps[0].reason


@pytest.mark.parametrize(
    ("roster", "reason"),
    [
        ([], "no reviewer of this specialty on the roster"),
        ([pathologist(1, institution=HOME)], "conflict of interest"),
        ([pathologist(1, active=False)], "inactive account"),
    ],
)
def test_no_eligible_reviewer_leaves_a_gap_with_its_reason(roster, reason):
    decision = route(facts(), roster)
    assert decision.choices == ()
    (gap,) = decision.gaps
    assert gap.specialty is S.PATHOLOGY
    assert reason in gap.reason


def test_covered_specialties_are_not_routed_again():
    decision = route(facts(covered_specialties=frozenset({S.PATHOLOGY})), [pathologist(1)])
    assert decision.choices == () and decision.gaps == ()


def test_the_reason_explains_the_choice():
    decision = route(
        facts(), [pathologist(1, open_assignments=2), pathologist(2, open_assignments=4)]
    )
    (choice,) = decision.choices
    assert "required at the post-biopsy timepoint" in choice.reason
    assert "least loaded of 2 eligible (2 open assignments)" in choice.reason
    assert decision.summary.startswith("Breast pathology:")


def test_a_reviewer_already_reading_the_case_is_never_routed_it_as_primary():
    # A second reader (or a tie-break reviewer) stays on the case when the primary
    # reviewer declines: routing must pick someone else.
    decision = route(
        facts(reading_reviewer_ids=frozenset({1})),
        [pathologist(1), pathologist(2, open_assignments=5)],
    )
    assert [c.reviewer_id for c in decision.choices] == [2]


TIE = "tie-break on the diagnosis: Dr. A concurs, Dr. B differs (major)"


def surgeon(id: int, **kwargs: object) -> Reviewer:
    return Reviewer(id=id, specialty=S.BREAST_SURGERY, institution_id=AWAY, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("roster", "exclude", "case_kwargs", "chosen", "why"),
    [
        # Everyone on the case is left out, however idle: the least loaded of the rest.
        (
            [pathologist(1), pathologist(2), pathologist(3, open_assignments=2)],
            {1, 2},
            {},
            3,
            "already on the case",
        ),
        (
            [pathologist(3, open_assignments=4), pathologist(4, open_assignments=1)],
            {1, 2},
            {},
            4,
            "least loaded",
        ),
        (
            [pathologist(3, last_assigned_at=LATE), pathologist(4, last_assigned_at=EARLY)],
            set(),
            {},
            4,
            "longest since last assignment",
        ),
        # Only the specialty that disagrees.
        ([surgeon(3), pathologist(4, open_assignments=9)], set(), {}, 4, "right specialty"),
        (
            [pathologist(3, institution=HOME), pathologist(4, open_assignments=3)],
            set(),
            {},
            4,
            "conflict of interest",
        ),
        (
            [pathologist(3, active=False), pathologist(4, open_assignments=3)],
            set(),
            {},
            4,
            "inactive",
        ),
        (
            [pathologist(3), pathologist(4, open_assignments=3)],
            set(),
            {"excluded_reviewer_ids": frozenset({3})},
            4,
            "declined",
        ),
        (
            [
                pathologist(3),
                pathologist(4, open_assignments=3, insurer_networks=frozenset({"Acme"})),
            ],
            set(),
            {"insurer": "Acme", "network_restricted": True},
            4,
            "network",
        ),
    ],
)
def test_one_more_reviewer_is_the_least_loaded_eligible_one_not_on_the_case(
    roster, exclude, case_kwargs, chosen, why
):
    picked = choose_reviewer(facts(**case_kwargs), roster, S.PATHOLOGY, exclude=exclude, need=TIE)
    assert isinstance(picked, Choice), why
    assert (picked.specialty, picked.reviewer_id) == (S.PATHOLOGY, chosen), why


def test_the_choice_of_one_more_reviewer_gives_the_need_and_the_load():
    picked = choose_reviewer(
        facts(),
        [pathologist(1), pathologist(3, open_assignments=2), pathologist(4, open_assignments=5)],
        S.PATHOLOGY,
        exclude={1},
        need=TIE,
    )
    assert picked == Choice(
        S.PATHOLOGY, 3, f"{TIE}; least loaded of 2 eligible (2 open assignments)"
    )


@pytest.mark.parametrize(
    ("roster", "exclude", "reason"),
    [
        ([], set(), "no reviewer of this specialty on the roster"),
        ([surgeon(3)], set(), "no reviewer of this specialty on the roster"),
        (
            [pathologist(1), pathologist(2)],
            {1, 2},
            "2 on the roster, none eligible: already reads this case",
        ),
        (
            [pathologist(1), pathologist(3, institution=HOME)],
            {1},
            "2 on the roster, none eligible: already reads this case; "
            "works at the referrer's institution (conflict of interest)",
        ),
        (
            [pathologist(1), pathologist(3, active=False)],
            {1},
            "none eligible: already reads this case; inactive account",
        ),
    ],
)
def test_when_nobody_more_is_eligible_the_gap_says_why(roster, exclude, reason):
    picked = choose_reviewer(facts(), roster, S.PATHOLOGY, exclude=exclude, need=TIE)
    assert isinstance(picked, Gap)
    assert picked.specialty is S.PATHOLOGY
    assert reason in picked.reason


def test_a_declined_reviewer_is_named_as_such_even_when_also_excluded():
    picked = choose_reviewer(
        facts(excluded_reviewer_ids=frozenset({1})),
        [pathologist(1)],
        S.PATHOLOGY,
        exclude={1},
        need=TIE,
    )
    assert isinstance(picked, Gap)
    assert picked.reason.endswith("declined or was taken off this case")
