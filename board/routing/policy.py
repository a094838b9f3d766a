"""Who reviews a case: a pure, explainable routing policy.

`route(case, roster)` returns, for every specialty the case needs, either the
chosen reviewer with the reason or the reason nobody could be chosen;
`choose_reviewer(case, roster, specialty, exclude=...)` picks one more reviewer of
a specialty (a tie-break) by the same eligibility and load order. No Flask,
SQLAlchemy or Celery here; tests/unit checks it from tables.
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


@dataclass(frozen=True)
class Reviewer:
    id: int
    specialty: Specialty
    institution_id: int
    active: bool = True
    open_assignments: int = 0
    last_assigned_at: dt.datetime | None = None
    insurer_networks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RequiredSpecialty:
    specialty: Specialty
    reason: str


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

    @property
    def summary(self) -> str:
        lines = [f"{SPECIALTY_LABEL[c.specialty]}: {c.reason}" for c in self.choices]
        lines += [f"{SPECIALTY_LABEL[g.specialty]}: NOT ROUTED: {g.reason}" for g in self.gaps]
        return "\n".join(lines)


def required_specialties(case: CaseFacts) -> tuple[RequiredSpecialty, ...]:
    label = case.timepoint.value.replace("_", "-")
    required: dict[Specialty, str] = {
        s: f"required at the {label} timepoint" for s in TIMEPOINT_SPECIALTIES[case.timepoint]
    }
    if case.timepoint is Timepoint.PRE_SURGERY and case.reconstruction_asked:
        required.setdefault(_S.PLASTIC_SURGERY, "reconstruction is part of the question")
    for specialty in case.requested_specialties:
        required.setdefault(specialty, "requested by the referring oncologist")
    return tuple(RequiredSpecialty(s, r) for s, r in required.items())


def _ineligibility(case: CaseFacts, reviewer: Reviewer) -> str | None:
    if not reviewer.active:
        return "inactive account"
    if reviewer.id == case.referrer_id:
        return "is the referrer"
    if reviewer.institution_id == case.referrer_institution_id:
        return "works at the referrer's institution (conflict of interest)"
    if reviewer.id in case.excluded_reviewer_ids:
        return "declined or was taken off this case"
    if reviewer.id in case.reading_reviewer_ids:
        return "already reads this case"
    if case.network_restricted and case.insurer not in reviewer.insurer_networks:
        return f"outside the {case.insurer} network"
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
    required = required_specialties(case)
    choices: list[Choice] = []
    gaps: list[Gap] = []
    for need in required:
        if need.specialty in case.covered_specialties:
            continue
        picked = _pick(case, reviewers, need.specialty, need.reason)
        if isinstance(picked, Choice):
            choices.append(picked)
        else:
            gaps.append(picked)
    return RoutingDecision(required=required, choices=tuple(choices), gaps=tuple(gaps))


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
