"""Who reviews a case: a pure, explainable routing policy.

`requirements(case)` says which specialties a case needs and why, what the
coordinator must decide first (an uncovered pathology re-review) and what the
coordinator took off; `route(case, roster)` returns, for every specialty the case
needs, either the chosen reviewer with the reason or the reason nobody could be
chosen; `choose_reviewer(case, roster, specialty, exclude=...)` picks one more
reviewer of a specialty (a tie-break, a reassignment) by the same eligibility and
load order. No Flask, SQLAlchemy or Celery here; tests/unit checks it from tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from board.auth.roles import SPECIALTY_LABEL, Specialty
from board.cases.rules import Timepoint

_T = Timepoint
_S = Specialty

# domain.md, "When a case is sent (the timepoint)": who must review.
TIMEPOINT_SPECIALTIES: dict[Timepoint, tuple[Specialty, ...]] = {
    _T.POST_BIOPSY: (_S.PATHOLOGY,),
    _T.PRE_SURGERY: (_S.BREAST_SURGERY, _S.BREAST_RADIOLOGY, _S.MEDICAL_ONCOLOGY),
    _T.POST_SURGERY: (_S.MEDICAL_ONCOLOGY, _S.RADIATION_ONCOLOGY, _S.PATHOLOGY),
    _T.DURING_TREATMENT: (_S.MEDICAL_ONCOLOGY,),
}

# A reviewer is routed no more open assignments than this unless their account says
# otherwise (User.max_open_assignments has the same default).
DEFAULT_CAPACITY = 10


@dataclass(frozen=True)
class CaseFacts:
    timepoint: Timepoint
    referrer_id: int
    referrer_institution_id: int
    requested_specialties: tuple[Specialty, ...] = ()
    reconstruction_asked: bool = False
    insurer: str | None = None
    network_restricted: bool = False
    # Specialties that already have an active assignment: routing fills only the gaps.
    covered_specialties: frozenset[Specialty] = frozenset()
    # Reviewers who declined or were taken off this case: never offered it again.
    excluded_reviewer_ids: frozenset[int] = frozenset()
    # Reviewers reading this case in another capacity (a second reader, a tie-break):
    # one reviewer gives one opinion per case, so they are never routed it again.
    reading_reviewer_ids: frozenset[int] = frozenset()
    # When routing decides: a reviewer whose leave covers this moment is passed over.
    # The services always pass the clock; a table that is not about leave may omit it.
    now: dt.datetime | None = None
    # domain.md: "the coordinator may add or remove any" specialty.
    added_specialties: tuple[Specialty, ...] = ()
    removed_specialties: tuple[Specialty, ...] = ()
    # domain.md, "Insurance": a paid second opinion does not mean a new pathology read
    # is paid; the case records whether it is.
    pathology_report_attached: bool = False
    pathology_review_covered: bool = False


@dataclass(frozen=True)
class Reviewer:
    id: int
    specialty: Specialty
    institution_id: int
    active: bool = True
    open_assignments: int = 0
    last_assigned_at: dt.datetime | None = None
    insurer_networks: frozenset[str] = frozenset()
    # The board's reviewers are breast specialists (domain.md, "The people").
    breast_subspecialty: bool = True
    # The most open assignments the reviewer takes at once.
    capacity: int = DEFAULT_CAPACITY
    # Times away (leave, a conference) as (start, end), end excluded.
    away: tuple[tuple[dt.datetime, dt.datetime], ...] = ()


@dataclass(frozen=True)
class RequiredSpecialty:
    specialty: Specialty
    reason: str


@dataclass(frozen=True)
class PendingDecision:
    """A specialty routing will not fill until the coordinator adds or removes it."""

    specialty: Specialty
    reason: str


@dataclass(frozen=True)
class RemovedSpecialty:
    """A specialty the coordinator took off the case, and what it was needed for."""

    specialty: Specialty
    reason: str


@dataclass(frozen=True)
class Requirements:
    required: tuple[RequiredSpecialty, ...]
    decisions: tuple[PendingDecision, ...] = ()
    removed: tuple[RemovedSpecialty, ...] = ()


@dataclass(frozen=True)
class Choice:
    specialty: Specialty
    reviewer_id: int
    reason: str


@dataclass(frozen=True)
class Gap:
    specialty: Specialty
    reason: str


@dataclass(frozen=True)
class RoutingDecision:
    required: tuple[RequiredSpecialty, ...]
    choices: tuple[Choice, ...] = ()
    gaps: tuple[Gap, ...] = field(default=())
    # What the coordinator decides before routing fills it (shown, never routed).
    decisions: tuple[PendingDecision, ...] = ()
    removed: tuple[RemovedSpecialty, ...] = ()

    @property
    def summary(self) -> str:
        lines = [f"{SPECIALTY_LABEL[c.specialty]}: {c.reason}" for c in self.choices]
        lines += [f"{SPECIALTY_LABEL[g.specialty]}: NOT ROUTED: {g.reason}" for g in self.gaps]
        lines += [f"{SPECIALTY_LABEL[d.specialty]}: {d.reason}" for d in self.decisions]
        return "\n".join(lines)


def _insurer(case: CaseFacts) -> str:
    return case.insurer or "the insurer"


def requirements(case: CaseFacts) -> Requirements:
    """Which specialties the case needs (each with why), what waits on the
    coordinator, and what the coordinator removed."""
    label = case.timepoint.value.replace("_", "-")
    required: dict[Specialty, str] = {
        s: f"required at the {label} timepoint" for s in TIMEPOINT_SPECIALTIES[case.timepoint]
    }
    if case.timepoint is Timepoint.PRE_SURGERY and case.reconstruction_asked:
        required.setdefault(_S.PLASTIC_SURGERY, "reconstruction is part of the question")
    for specialty in case.requested_specialties:
        required.setdefault(specialty, "requested by the referring oncologist")

    decisions: dict[Specialty, str] = {}
    insurer = _insurer(case)
    if case.pathology_report_attached and case.pathology_review_covered:
        required.setdefault(
            _S.PATHOLOGY,
            f"pathology re-review: a pathology report is attached and {insurer} covers it",
        )
    elif case.pathology_report_attached and case.timepoint is Timepoint.POST_BIOPSY:
        # domain.md: after biopsy the pathologist re-reads the report "always"; the
        # coordinator sees that the insurer will not pay for it.
        required[_S.PATHOLOGY] = (
            "required at the post-biopsy timepoint: the pathologist always re-reads the "
            f"biopsy, although {insurer} does not cover pathology re-review"
        )
    elif case.pathology_report_attached:
        # Any other new pathology read is the coordinator's call when it is not paid
        # for, even where the timepoint or the referrer would otherwise ask for it.
        why = f"pathology re-review is not covered by {insurer}: the coordinator decides"
        asked_by = required.pop(_S.PATHOLOGY, None)
        decisions[_S.PATHOLOGY] = f"{why} (it would be {asked_by})" if asked_by else why

    uncovered = f"{insurer} does not cover pathology re-review"
    for specialty in case.added_specialties:
        if decisions.pop(specialty, None):
            required[specialty] = f"added by the coordinator, although {uncovered}"
        else:
            required.setdefault(specialty, "added by the coordinator")

    # The coordinator may remove any specialty, even one the timepoint requires.
    removed: list[RemovedSpecialty] = []
    for specialty in case.removed_specialties:
        if specialty in required:
            reason = f"removed by the coordinator (was: {required.pop(specialty)})"
        elif decisions.pop(specialty, None):
            reason = f"removed by the coordinator: {uncovered}"
        else:
            reason = "removed by the coordinator"
        removed.append(RemovedSpecialty(specialty, reason))

    return Requirements(
        required=tuple(RequiredSpecialty(s, r) for s, r in required.items()),
        decisions=tuple(PendingDecision(s, r) for s, r in decisions.items()),
        removed=tuple(removed),
    )


def required_specialties(case: CaseFacts) -> tuple[RequiredSpecialty, ...]:
    return requirements(case).required


def away_until(reviewer: Reviewer, now: dt.datetime) -> dt.datetime | None:
    """When the reviewer is back, if `now` falls in one of their times away. Windows
    that touch or overlap run on: back means back from all of them."""
    back: dt.datetime | None = None
    for start, end in sorted(reviewer.away):
        if start <= (back or now) < end:
            back = max(back or end, end)
    return back


def _ineligibility(case: CaseFacts, reviewer: Reviewer) -> str | None:
    if not reviewer.active:
        return "inactive account"
    if reviewer.id == case.referrer_id:
        return "is the referrer"
    if reviewer.institution_id == case.referrer_institution_id:
        return "works at the referrer's institution (conflict of interest)"
    if not reviewer.breast_subspecialty:
        return "no breast sub-specialty"
    if reviewer.id in case.excluded_reviewer_ids:
        return "declined or was taken off this case"
    if reviewer.id in case.reading_reviewer_ids:
        return "already reads this case"
    if case.network_restricted and case.insurer not in reviewer.insurer_networks:
        return f"outside the {case.insurer} network"
    back = away_until(reviewer, case.now) if case.now is not None else None
    if back is not None:
        return f"away until {back:%Y-%m-%d}"
    if reviewer.open_assignments >= reviewer.capacity:
        return f"at capacity ({reviewer.open_assignments} of {reviewer.capacity} open)"
    return None


def _load_order(reviewer: Reviewer) -> tuple[int, dt.datetime, int]:
    # Fewest open assignments first; then whoever waited longest since their last
    # assignment (never assigned counts as longest); reviewer id breaks ties stably.
    never = dt.datetime.min.replace(tzinfo=dt.UTC)
    return (reviewer.open_assignments, reviewer.last_assigned_at or never, reviewer.id)


def _pick(
    case: CaseFacts, reviewers: Sequence[Reviewer], specialty: Specialty, need: str
) -> Choice | Gap:
    """The least-loaded eligible reviewer of one specialty, or why there is none."""
    specialists = [r for r in reviewers if r.specialty is specialty]
    eligible = [r for r in specialists if _ineligibility(case, r) is None]
    if not eligible:
        if not specialists:
            return Gap(specialty, "no reviewer of this specialty on the roster")
        reasons = sorted({str(_ineligibility(case, r)) for r in specialists})
        why = f"{len(specialists)} on the roster, none eligible: " + "; ".join(reasons)
        return Gap(specialty, why)
    chosen = min(eligible, key=_load_order)
    return Choice(
        specialty,
        chosen.id,
        f"{need}; least loaded of {len(eligible)} eligible "
        f"({chosen.open_assignments} open assignments)",
    )


def route(case: CaseFacts, roster: Iterable[Reviewer]) -> RoutingDecision:
    reviewers: Sequence[Reviewer] = list(roster)
    needs = requirements(case)
    choices: list[Choice] = []
    gaps: list[Gap] = []
    for need in needs.required:
        if need.specialty in case.covered_specialties:
            continue
        picked = _pick(case, reviewers, need.specialty, need.reason)
        if isinstance(picked, Choice):
            choices.append(picked)
        else:
            gaps.append(picked)
    return RoutingDecision(
        required=needs.required,
        choices=tuple(choices),
        gaps=tuple(gaps),
        decisions=needs.decisions,
        removed=needs.removed,
    )


def choose_reviewer(
    case: CaseFacts,
    roster: Iterable[Reviewer],
    specialty: Specialty,
    *,
    exclude: Iterable[int] = (),
    need: str,
) -> Choice | Gap:
    """One more reviewer of `specialty` for a case (a tie-break, a second reader):
    the same eligibility and load order as `route`, never anyone in `exclude`
    (pass everyone already on the case). `need` says why the reviewer is wanted
    and starts the Choice's reason."""
    facts = replace(case, reading_reviewer_ids=case.reading_reviewer_ids | frozenset(exclude))
    return _pick(facts, list(roster), specialty, need)
