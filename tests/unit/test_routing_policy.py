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
    PendingDecision,
    RemovedSpecialty,
    Reviewer,
    away_until,
    choose_reviewer,
    required_specialties,
    requirements,
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


# --- The specialties a case needs: the coordinator's changes and pathology coverage ---

ACME = {"insurer": "Acme"}
COVERED = {**ACME, "pathology_report_attached": True, "pathology_review_covered": True}
NOT_COVERED = {**ACME, "pathology_report_attached": True, "pathology_review_covered": False}
PRE = (S.BREAST_SURGERY, S.BREAST_RADIOLOGY, S.MEDICAL_ONCOLOGY)


@pytest.mark.parametrize(
    ("timepoint", "case_kwargs", "required", "decisions", "removed"),
    [
        # The coordinator adds a specialty the timepoint does not ask for.
        (
            T.DURING_TREATMENT,
            {"added_specialties": (S.RADIATION_ONCOLOGY,)},
            {
                S.MEDICAL_ONCOLOGY: "required at the during-treatment timepoint",
                S.RADIATION_ONCOLOGY: "added by the coordinator",
            },
            {},
            {},
        ),
        # Adding what is already required keeps the first reason.
        (
            T.POST_BIOPSY,
            {"added_specialties": (S.PATHOLOGY,)},
            {S.PATHOLOGY: "required at the post-biopsy timepoint"},
            {},
            {},
        ),
        # The coordinator may remove any specialty, even one the timepoint requires.
        (
            T.PRE_SURGERY,
            {"removed_specialties": (S.BREAST_RADIOLOGY,)},
            {
                S.BREAST_SURGERY: "required at the pre-surgery timepoint",
                S.MEDICAL_ONCOLOGY: "required at the pre-surgery timepoint",
            },
            {},
            {
                S.BREAST_RADIOLOGY: "removed by the coordinator "
                "(was: required at the pre-surgery timepoint)"
            },
        ),
        # ...and one the referrer asked for.
        (
            T.DURING_TREATMENT,
            {
                "requested_specialties": (S.RADIATION_ONCOLOGY,),
                "removed_specialties": (S.RADIATION_ONCOLOGY,),
            },
            {S.MEDICAL_ONCOLOGY: "required at the during-treatment timepoint"},
            {},
            {
                S.RADIATION_ONCOLOGY: "removed by the coordinator "
                "(was: requested by the referring oncologist)"
            },
        ),
        # Removing what nobody needed is recorded all the same.
        (
            T.DURING_TREATMENT,
            {"removed_specialties": (S.PLASTIC_SURGERY,)},
            {S.MEDICAL_ONCOLOGY: "required at the during-treatment timepoint"},
            {},
            {S.PLASTIC_SURGERY: "removed by the coordinator"},
        ),
        # A pathology report is attached and the insurer pays for its re-review.
        (
            T.PRE_SURGERY,
            COVERED,
            {
                **dict.fromkeys(PRE, "required at the pre-surgery timepoint"),
                S.PATHOLOGY: "pathology re-review: a pathology report is attached "
                "and Acme covers it",
            },
            {},
            {},
        ),
        # Where the timepoint already requires the pathologist, its reason stands.
        (
            T.POST_SURGERY,
            COVERED,
            {
                S.MEDICAL_ONCOLOGY: "required at the post-surgery timepoint",
                S.RADIATION_ONCOLOGY: "required at the post-surgery timepoint",
                S.PATHOLOGY: "required at the post-surgery timepoint",
            },
            {},
            {},
        ),
        # No pathology report, no re-review of it.
        (
            T.DURING_TREATMENT,
            {**ACME, "pathology_report_attached": False, "pathology_review_covered": True},
            {S.MEDICAL_ONCOLOGY: "required at the during-treatment timepoint"},
            {},
            {},
        ),
        # Not covered: the coordinator decides, and sees why.
        (
            T.PRE_SURGERY,
            NOT_COVERED,
            dict.fromkeys(PRE, "required at the pre-surgery timepoint"),
            {S.PATHOLOGY: "pathology re-review is not covered by Acme: the coordinator decides"},
            {},
        ),
        # Not covered after surgery: the surgical specimen's read waits on the coordinator too.
        (
            T.POST_SURGERY,
            NOT_COVERED,
            {
                S.MEDICAL_ONCOLOGY: "required at the post-surgery timepoint",
                S.RADIATION_ONCOLOGY: "required at the post-surgery timepoint",
            },
            {
                S.PATHOLOGY: "pathology re-review is not covered by Acme: the coordinator "
                "decides (it would be required at the post-surgery timepoint)"
            },
            {},
        ),
        # Not covered though the referrer asked for it: still the coordinator's call.
        (
            T.DURING_TREATMENT,
            {**NOT_COVERED, "requested_specialties": (S.PATHOLOGY,)},
            {S.MEDICAL_ONCOLOGY: "required at the during-treatment timepoint"},
            {
                S.PATHOLOGY: "pathology re-review is not covered by Acme: the coordinator "
                "decides (it would be requested by the referring oncologist)"
            },
            {},
        ),
        # After biopsy the pathologist always re-reads the report (domain.md), paid or not.
        (
            T.POST_BIOPSY,
            NOT_COVERED,
            {
                S.PATHOLOGY: "required at the post-biopsy timepoint: the pathologist always "
                "re-reads the biopsy, although Acme does not cover pathology re-review"
            },
            {},
            {},
        ),
        # The coordinator decides yes: the "add pathology" button.
        (
            T.PRE_SURGERY,
            {**NOT_COVERED, "added_specialties": (S.PATHOLOGY,)},
            {
                **dict.fromkeys(PRE, "required at the pre-surgery timepoint"),
                S.PATHOLOGY: "added by the coordinator, although Acme does not cover "
                "pathology re-review",
            },
            {},
            {},
        ),
        # The coordinator decides no.
        (
            T.PRE_SURGERY,
            {**NOT_COVERED, "removed_specialties": (S.PATHOLOGY,)},
            dict.fromkeys(PRE, "required at the pre-surgery timepoint"),
            {},
            {S.PATHOLOGY: "removed by the coordinator: Acme does not cover pathology re-review"},
        ),
        # An unnamed insurer is "the insurer".
        (
            T.DURING_TREATMENT,
            {"pathology_report_attached": True, "pathology_review_covered": False},
            {S.MEDICAL_ONCOLOGY: "required at the during-treatment timepoint"},
            {
                S.PATHOLOGY: "pathology re-review is not covered by the insurer: "
                "the coordinator decides"
            },
            {},
        ),
    ],
)
def test_the_required_specialties_carry_their_reasons(
    timepoint, case_kwargs, required, decisions, removed
):
    needs = requirements(facts(timepoint, **case_kwargs))
    assert {r.specialty: r.reason for r in needs.required} == required
    assert {d.specialty: d.reason for d in needs.decisions} == decisions
    assert {r.specialty: r.reason for r in needs.removed} == removed


def test_an_uncovered_pathology_re_review_is_shown_to_the_coordinator_but_never_routed():
    case = facts(T.PRE_SURGERY, **NOT_COVERED)
    decision = route(case, [pathologist(1)])
    assert decision.choices == () and S.PATHOLOGY not in {g.specialty for g in decision.gaps}
    assert decision.decisions == (
        PendingDecision(
            S.PATHOLOGY, "pathology re-review is not covered by Acme: the coordinator decides"
        ),
    )
    assert (
        "Breast pathology: pathology re-review is not covered by Acme: the coordinator decides"
        in decision.summary
    )


def test_a_removed_specialty_is_not_routed_even_when_a_reviewer_is_free():
    decision = route(facts(removed_specialties=(S.PATHOLOGY,)), [pathologist(1)])
    assert decision.required == () and decision.choices == () and decision.gaps == ()
    assert decision.removed == (
        RemovedSpecialty(
            S.PATHOLOGY, "removed by the coordinator (was: required at the post-biopsy timepoint)"
        ),
    )


def test_a_covered_pathology_re_review_is_routed_with_its_reason():
    decision = route(facts(T.DURING_TREATMENT, **COVERED), [pathologist(1)])
    pathology = next(c for c in decision.choices if c.specialty is S.PATHOLOGY)
    assert pathology.reason == (
        "pathology re-review: a pathology report is attached and Acme covers it; "
        "least loaded of 1 eligible (0 open assignments)"
    )


# --- Who may review: sub-specialty, leave and capacity --------------------------------

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def days(n: float) -> dt.datetime:
    return NOW + dt.timedelta(days=n)


@pytest.mark.parametrize(
    ("roster", "chosen", "why"),
    [
        # Only breast specialists review, however idle the general one is.
        (
            [pathologist(1, breast_subspecialty=False), pathologist(2, open_assignments=5)],
            2,
            "sub-specialty",
        ),
        # On leave now: passed over.
        (
            [pathologist(1, away=((days(-1), days(7)),)), pathologist(2, open_assignments=5)],
            2,
            "on leave",
        ),
        # Leave that starts later, or has ended, does not matter now.
        (
            [pathologist(1, away=((days(1), days(7)),)), pathologist(2, open_assignments=5)],
            1,
            "leave starts tomorrow",
        ),
        (
            [pathologist(1, away=((days(-7), days(-1)),)), pathologist(2, open_assignments=5)],
            1,
            "leave has ended",
        ),
        # The window's end is when the reviewer is back.
        (
            [pathologist(1, away=((days(-7), NOW),)), pathologist(2, open_assignments=5)],
            1,
            "back this very moment",
        ),
        (
            [pathologist(1, away=((NOW, days(1)),)), pathologist(2, open_assignments=5)],
            2,
            "leaves this very moment",
        ),
        # At capacity: the next one, even if busier than the idle-but-full one would be.
        (
            [pathologist(1, open_assignments=10), pathologist(2, open_assignments=11, capacity=12)],
            2,
            "default capacity is 10",
        ),
        (
            [pathologist(1, open_assignments=2, capacity=2), pathologist(2, open_assignments=3)],
            2,
            "own capacity",
        ),
        # Under capacity: the least loaded as always.
        (
            [pathologist(1, open_assignments=1, capacity=2), pathologist(2, open_assignments=3)],
            1,
            "under capacity",
        ),
    ],
)
def test_only_breast_specialists_present_and_under_capacity_are_routed(roster, chosen, why):
    decision = route(facts(now=NOW), roster)
    assert [c.reviewer_id for c in decision.choices] == [chosen], why
    assert decision.gaps == ()


@pytest.mark.parametrize(
    ("roster", "reason"),
    [
        (
            [pathologist(1, breast_subspecialty=False)],
            "1 on the roster, none eligible: no breast sub-specialty",
        ),
        (
            [pathologist(1, away=((days(-1), days(6.5)),))],
            "1 on the roster, none eligible: away until 2026-03-08",
        ),
        # Windows that run on into each other: back after the last one.
        (
            [pathologist(1, away=((days(3), days(10)), (days(-1), days(3))))],
            "1 on the roster, none eligible: away until 2026-03-12",
        ),
        (
            [pathologist(1, open_assignments=10)],
            "1 on the roster, none eligible: at capacity (10 of 10 open)",
        ),
        (
            [pathologist(1, open_assignments=4, capacity=3)],
            "1 on the roster, none eligible: at capacity (4 of 3 open)",
        ),
        (
            [
                pathologist(1, open_assignments=10),
                pathologist(2, away=((days(-1), days(1)),)),
                pathologist(3, breast_subspecialty=False),
            ],
            "3 on the roster, none eligible: at capacity (10 of 10 open); "
            "away until 2026-03-03; no breast sub-specialty",
        ),
    ],
)
def test_a_gap_names_the_sub_specialty_leave_and_capacity(roster, reason):
    decision = route(facts(now=NOW), roster)
    (gap,) = decision.gaps
    assert gap == Gap(S.PATHOLOGY, reason)


def test_one_more_reviewer_is_never_someone_away_full_or_not_a_breast_specialist():
    roster = [
        pathologist(1, away=((days(-1), days(1)),)),
        pathologist(2, open_assignments=10),
        pathologist(3, breast_subspecialty=False),
        pathologist(4, open_assignments=9),
    ]
    picked = choose_reviewer(facts(now=NOW), roster, S.PATHOLOGY, need=TIE)
    assert picked == Choice(
        S.PATHOLOGY, 4, f"{TIE}; least loaded of 1 eligible (9 open assignments)"
    )


@pytest.mark.parametrize(
    ("windows", "back"),
    [
        ((), None),
        (((days(-1), days(1)),), days(1)),
        (((days(1), days(2)),), None),
        # Touching and overlapping windows run on; a gap between them ends the leave.
        (((days(-1), days(1)), (days(1), days(2)), (days(1.5), days(4))), days(4)),
        (((days(-1), days(1)), (days(2), days(3))), days(1)),
    ],
)
def test_a_reviewer_on_leave_is_back_when_their_last_running_window_ends(windows, back):
    assert away_until(pathologist(1, away=windows), NOW) == back
