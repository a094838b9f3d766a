"""Routing a case to its reviewers: gathers the facts, asks the pure policy, stores
the decision. Idempotent: it only fills specialties that have no active primary
assignment (second readers and tie-breaks are the coordinator's, never routing's)."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Select, Text, bindparam, cast, func, select
from sqlalchemy.exc import IntegrityError

from board.audit import services as audit
from board.auth import policy
from board.auth.models import AvailabilityWindow, Institution, User
from board.auth.people import Named, Person
from board.auth.roles import REVIEWER_SPECIALTY, SPECIALTY_LABEL, Specialty
from board.cases.models import Case, Record
from board.cases.rules import (
    REVIEW_PHASE,
    REVIEWS_OPEN,
    CaseStatus,
    RecordKind,
    Timepoint,
    review_progress_status,
)
from board.cases.services import HasKind, transition
from board.db import utcnow
from board.errors import Conflict
from board.extensions import db
from board.notifications import keys
from board.notifications.services import notify, notify_coordinators
from board.outbox import services as outbox
from board.reviews.models import (
    ACTIVE_ASSIGNMENT,
    OPEN_ASSIGNMENT,
    Assignment,
    AssignmentStatus,
    Purpose,
)
from board.routing.policy import (
    CaseFacts,
    Gap,
    Requirements,
    Reviewer,
    RoutingDecision,
    away_until,
    requirements,
    route,
)
from board.transactions import atomic
from board.validation import FieldError, InvalidInput

if TYPE_CHECKING:
    from board.cases.case_file import FileCase


def _specialties(values: Iterable[str] | None) -> tuple[Specialty, ...]:
    return tuple(Specialty(v) for v in values or ())


def _facts(case: Case, now: dt.datetime | None = None) -> CaseFacts:
    assignments = db.session.scalars(select(Assignment).where(Assignment.case_id == case.id)).all()
    pathology_attached = db.session.scalar(
        select(
            select(Record.id)
            .where(Record.case_id == case.id, Record.kind == RecordKind.PATHOLOGY_REPORT.value)
            .exists()
        )
    )
    return facts_from(case, assignments, (), now, pathology_attached=bool(pathology_attached))


class AssignmentFacts(Protocol):
    """What routing reads of an assignment (an ORM row or the case file's)."""

    @property
    def status(self) -> str: ...
    @property
    def purpose(self) -> str: ...
    @property
    def specialty(self) -> str: ...
    @property
    def reviewer_id(self) -> int: ...


def facts_from(
    case: Case | FileCase,
    assignments: Iterable[AssignmentFacts],
    records: Iterable[HasKind],
    now: dt.datetime | None = None,
    *,
    pathology_attached: bool | None = None,
) -> CaseFacts:
    """What routing decides from: the case, every assignment it has had and its records
    (or, without them, `pathology_attached`), as rows already loaded."""
    assignments = list(assignments)
    active = [a for a in assignments if a.status in ACTIVE_ASSIGNMENT]
    # Only a primary assignment covers a specialty: a second reader or a tie-break
    # reviewer does not stand in for the one the specialty needs.
    covered = {Specialty(a.specialty) for a in active if a.purpose == Purpose.PRIMARY}
    excluded = {a.reviewer_id for a in assignments if a.status not in ACTIVE_ASSIGNMENT}
    # Everyone else already on the case: one case, one opinion per reviewer (and the
    # unique (case, reviewer) constraint would refuse a second assignment anyway).
    reading = {a.reviewer_id for a in active}
    if pathology_attached is None:
        pathology_attached = any(r.kind == RecordKind.PATHOLOGY_REPORT.value for r in records)
    insurance = case.insurance or {}
    return CaseFacts(
        timepoint=Timepoint(case.timepoint),
        referrer_id=case.referrer_id,
        referrer_institution_id=case.institution_id,
        requested_specialties=_specialties(case.requested_specialties),
        reconstruction_asked=bool((case.plan or {}).get("reconstruction")),
        insurer=insurance.get("insurer"),
        network_restricted=bool(insurance.get("network_restriction")),
        covered_specialties=frozenset(covered),
        excluded_reviewer_ids=frozenset(excluded),
        reading_reviewer_ids=frozenset(reading),
        now=now or utcnow(),
        added_specialties=_specialties(case.added_specialties),
        removed_specialties=_specialties(case.removed_specialties),
        pathology_report_attached=pathology_attached,
        pathology_review_covered=bool(insurance.get("pathology_review_covered")),
    )


def roster(now: dt.datetime | None = None) -> list[Reviewer]:
    """Every reviewer with their current load, capacity and times away (those not over
    by `now`), in two queries whatever the roster size."""
    return [reviewer for _, reviewer in roster_with_accounts(now)]


def _roster_statement() -> Select[Any]:
    """Every reviewer's account columns, institution and current load: built once."""
    # Per reviewer, from indexes (e8indexes01): the open ones through the partial index
    # of open assignments, the latest through (reviewer_id, created_at). Not a GROUP BY
    # over every assignment the board ever made.
    open_count = (
        select(func.count())
        .where(Assignment.reviewer_id == User.id, Assignment.status.in_(OPEN_ASSIGNMENT))
        .correlate(User)
        .scalar_subquery()
    )
    last = (
        select(func.max(Assignment.created_at))
        .where(Assignment.reviewer_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    return (
        select(
            User.id,
            User.name,
            User.role,
            User.institution_id,
            User.active,
            User.breast_subspecialty,
            User.max_open_assignments,
            Institution.name,
            # As text: forty institutions' lists decoded once each, not once per reviewer.
            cast(Institution.insurer_networks, Text),
            open_count,
            last,
        )
        .join(Institution, Institution.id == User.institution_id)
        .where(User.role.in_([r.value for r in REVIEWER_SPECIALTY]))
    )


_ROSTER = _roster_statement()
_AWAY = (
    select(AvailabilityWindow.user_id, AvailabilityWindow.starts_at, AvailabilityWindow.ends_at)
    .where(AvailabilityWindow.ends_at > bindparam("now"))
    .order_by(AvailabilityWindow.starts_at)
)


def roster_with_accounts(now: dt.datetime | None = None) -> list[tuple[Person, Reviewer]]:
    """The roster, each reviewer beside how the coordinator's page names them (name and
    institution). Two statements whatever the roster size, read as plain rows: routing
    and the case page need no account objects."""
    rows = db.session.execute(_ROSTER).all()
    away: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for user_id, starts_at, ends_at in db.session.execute(_AWAY, {"now": now or utcnow()}):
        away[user_id].append((starts_at, ends_at))
    networks_of = functools.cache(lambda raw: frozenset(json.loads(raw) if raw else ()))
    # Unpacked as tuples: reading a row's columns by name costs more than building
    # the objects, 140 reviewers at a time.
    specialty_of = {role.value: specialty for role, specialty in REVIEWER_SPECIALTY.items()}
    return [
        (
            Person(uid, name, role, Named(institution)),
            Reviewer(
                id=uid,
                specialty=specialty_of[role],
                institution_id=institution_id,
                active=active,
                open_assignments=open_count or 0,
                last_assigned_at=last_at,
                insurer_networks=networks_of(networks),
                breast_subspecialty=subspecialty,
                capacity=capacity,
                away=tuple(away.get(uid, ())),
            ),
        )
        for (
            uid,
            name,
            role,
            institution_id,
            active,
            subspecialty,
            capacity,
            institution,
            networks,
            open_count,
            last_at,
        ) in rows
    ]


def route_case(case_id: int, outbox_id: int | None = None) -> RoutingDecision | None:
    """Assigns reviewers to every uncovered specialty of a case. Safe to repeat."""
    # The row lock serialises two deliveries of the same message (PostgreSQL);
    # the unique indexes on assignments are the last line if anything slips past.
    case = db.session.get(Case, case_id, with_for_update=True)
    if case is None or case.status_enum not in REVIEW_PHASE:
        outbox.mark_done(outbox_id)
        db.session.commit()
        return None
    try:
        decision = _assign(case)
        outbox.mark_done(outbox_id)
        db.session.commit()
    except IntegrityError:
        # Another delivery of the same message won the race and routed the case.
        db.session.rollback()
        return None
    return decision


def create_assignment(
    case: Case,
    *,
    reviewer_id: int,
    specialty: Specialty,
    reason: str,
    assigned_by: User | None = None,
    purpose: Purpose = Purpose.PRIMARY,
    tie_break_dimension: str | None = None,
) -> Assignment:
    """Adds one assignment, tells the reviewer (inbox and email) and audits it.
    Caller commits. The unique constraints make a second one for the same
    reviewer, a specialty's primary review or a dimension's tie-break fail
    instead of doubling."""
    assert case.due_at is not None
    assert (purpose is Purpose.TIE_BREAK) == (tie_break_dimension is not None)
    assignment = Assignment(
        case_id=case.id,
        reviewer_id=reviewer_id,
        specialty=specialty.value,
        purpose=purpose.value,
        tie_break_dimension=tie_break_dimension,
        reason=reason,
        assigned_by_id=assigned_by.id if assigned_by else None,
        due_at=case.due_at,
    )
    db.session.add(assignment)
    db.session.flush()
    what = {
        Purpose.PRIMARY: "review",
        Purpose.ADDITIONAL: "give a second reading of",
        Purpose.TIE_BREAK: f"break a tie on the {tie_break_dimension} of",
    }[purpose]
    notify(
        reviewer_id,
        kind="assignment",
        case_id=case.id,
        key=keys.assignment(assignment.id),
        message=f"You have been asked to {what} case #{case.id} ({SPECIALTY_LABEL[specialty]}); "
        f"due {case.due_at:%Y-%m-%d %H:%M} UTC.",
    )
    audit.record(
        "assign",
        actor=assigned_by,
        case_id=case.id,
        object_type="assignment",
        object_id=assignment.id,
    )
    return assignment


def _assign(case: Case) -> RoutingDecision:
    now = utcnow()
    decision = route(_facts(case, now), roster(now))
    for choice in decision.choices:
        create_assignment(
            case, reviewer_id=choice.reviewer_id, specialty=choice.specialty, reason=choice.reason
        )
    previous_note = case.routing_note or ""
    if decision.choices or decision.gaps or decision.decisions:
        case.routing_note = decision.summary
    # Uncovered items are the coordinator's to see before work starts (domain.md,
    # "Insurance"): told once per decision, not at every re-routing.
    new_decisions = [d for d in decision.decisions if d.reason not in previous_note]
    if new_decisions:
        notify_coordinators(
            kind="routing_decision",
            case_id=case.id,
            key=keys.routing_decision(
                case.id, [f"{d.specialty.value}: {d.reason}" for d in new_decisions]
            ),
            message=f"Case #{case.id} needs your decision: "
            + "; ".join(f"{SPECIALTY_LABEL[d.specialty]}: {d.reason}" for d in new_decisions)
            + ".",
        )
    if decision.gaps:
        notify_coordinators(
            kind="unroutable",
            case_id=case.id,
            key=keys.unroutable(case.id, [g.specialty.value for g in decision.gaps]),
            message=f"Case #{case.id} could not be routed for: "
            + ", ".join(SPECIALTY_LABEL[g.specialty] for g in decision.gaps)
            + ". Assign a reviewer by hand.",
        )
    refresh_status(case, actor=None, uncovered=len(decision.gaps))
    return decision


def refresh_status(case: Case, *, actor: User | None, uncovered: int | None = None) -> None:
    """Sets a case in review to the status its assignments imply. Caller commits.

    A case awaiting records stays put while its clock is paused (a records request is
    open); board.cases.record_requests clears the pause and calls this to resume it."""
    resuming = case.status_enum is CaseStatus.AWAITING_RECORDS and case.paused_at is None
    if case.status_enum not in REVIEW_PHASE and not resuming:
        return
    if uncovered is None:
        uncovered = len(route(_facts(case), []).gaps)
    open_count = (
        db.session.scalar(
            select(func.count())
            .select_from(Assignment)
            .where(Assignment.case_id == case.id, Assignment.status.in_(OPEN_ASSIGNMENT))
        )
        or 0
    )
    target = review_progress_status(uncovered_specialties=uncovered, open_assignments=open_count)
    if target is not case.status_enum:
        previous = case.status_enum
        transition(case, target, actor=actor)
        if target is CaseStatus.READY_FOR_BOARD and previous is not CaseStatus.READY_FOR_BOARD:
            notify_coordinators(
                kind="ready_for_board",
                case_id=case.id,
                key=keys.ready_for_board(case.id),
                message=f"Every review of case #{case.id} is in; it is ready for the board.",
            )


@dataclass(frozen=True)
class Candidate:
    """A reviewer the coordinator may pick by hand, with what stands in the way."""

    user: Person
    specialty: Specialty
    open_assignments: int
    # Why a hand assignment would be refused (assign_by_hand refuses it too), or None.
    blocked: str | None
    # What routing would hold against them but a coordinator may knowingly override.
    caveat: str | None

    @property
    def option(self) -> str:
        """How a select offers them: name, institution, load and what routing holds
        against them (built once here, not in the template, 140 times a page)."""
        return self._option(self.caveat)

    @property
    def option_with_block(self) -> str:
        """The same, naming why a hand assignment would be refused when it would."""
        return self._option(self.blocked or self.caveat)

    def _option(self, note: str | None) -> str:
        said = f"{self.user.name} · {self.institution} · {self.open_assignments} open"
        return f"{said} · {note}" if note else said

    @property
    def institution(self) -> str:
        return self.user.institution.name if self.user.institution else ""


@dataclass(frozen=True)
class Staffing:
    gaps: tuple[Gap, ...]
    candidates: tuple[Candidate, ...]
    # The specialties the case needs with why, and what waits on the coordinator.
    requirements: Requirements | None = None

    def for_specialty(self, specialty: str) -> list[Candidate]:
        return [c for c in self.candidates if c.specialty.value == specialty]

    def by_specialty(self) -> list[tuple[Specialty, list[Candidate]]]:
        """The candidates grouped by specialty, in their order (sorted by specialty)."""
        groups: dict[Specialty, list[Candidate]] = {}
        for candidate in self.candidates:
            groups.setdefault(candidate.specialty, []).append(candidate)
        return list(groups.items())


def _caveats(facts: CaseFacts, reviewer: Reviewer, now: dt.datetime) -> str | None:
    """What routing holds against a reviewer that a coordinator may knowingly override."""
    caveats = []
    if facts.network_restricted and facts.insurer not in reviewer.insurer_networks:
        caveats.append(f"outside the {facts.insurer} network")
    if not reviewer.breast_subspecialty:
        caveats.append("no breast sub-specialty")
    back = away_until(reviewer, now)
    if back is not None:
        caveats.append(f"away until {back:%Y-%m-%d}")
    if reviewer.open_assignments >= reviewer.capacity:
        caveats.append(f"at capacity ({reviewer.open_assignments} of {reviewer.capacity} open)")
    return "; ".join(caveats) or None


def staffing(
    case: Case, assignments: Sequence[AssignmentFacts], records: Iterable[HasKind]
) -> Staffing:
    """What the coordinator's case page needs to fix routing: the required specialties
    (with why), the decisions waiting on the coordinator, the ones nobody covers (with
    why) and every active reviewer, least loaded first. `assignments` and `records`:
    every assignment the case has had and its records (the case file's)."""
    now = utcnow()
    facts = facts_from(case, assignments, records, now)
    on_case = {a.reviewer_id for a in assignments}
    accounts = [(user, r) for user, r in roster_with_accounts(now) if r.active]
    decision = route(facts, [r for _, r in accounts])
    candidates = []
    for user, reviewer in accounts:
        blocked = None
        if reviewer.institution_id == case.institution_id or reviewer.id == case.referrer_id:
            blocked = "works at the referrer's institution (conflict of interest)"
        elif reviewer.id in on_case:
            blocked = "already assigned this case once"
        candidates.append(
            Candidate(
                user,
                reviewer.specialty,
                reviewer.open_assignments,
                blocked,
                _caveats(facts, reviewer, now),
            )
        )
    candidates.sort(
        key=lambda c: (c.specialty.value, c.blocked is not None, c.open_assignments, c.user.name)
    )
    needs = Requirements(decision.required, decision.decisions, decision.removed)
    return Staffing(decision.gaps, tuple(candidates), needs)


def requirements_for(case: Case) -> Requirements:
    """The specialties a case needs and why, computed from its facts when read (so a
    change of the coordinator's shows at once, before routing has run)."""
    return requirements(_facts(case))


# --- The coordinator's changes to routing ---------------------------------------------


def _case_for_coordinator(coordinator: User, case_id: int) -> Case:
    policy.require_coordinator(coordinator)
    return policy.check_coordinated_case(
        coordinator, db.session.get(Case, case_id, with_for_update=True)
    )


def _ordered(specialties: Iterable[Specialty]) -> list[str]:
    chosen = set(specialties)
    return [s.value for s in Specialty if s in chosen]


@atomic
def set_specialties(
    coordinator: User,
    case_id: int,
    *,
    add: Iterable[Specialty] = (),
    remove: Iterable[Specialty] = (),
) -> Case:
    """The coordinator adds or removes specialties (domain.md: "the coordinator may
    add or remove any"), then the case is routed again through the outbox. Removing a
    specialty takes its open primary assignment off; a signed review stays."""
    case = _case_for_coordinator(coordinator, case_id)
    add, remove = [Specialty(s) for s in add], [Specialty(s) for s in remove]
    errors = []
    if not add and not remove:
        errors.append(FieldError("add", "or remove must name at least one specialty"))
    both = [s for s in Specialty if s in add and s in remove]
    if both:
        names = ", ".join(SPECIALTY_LABEL[s].lower() for s in both)
        errors.append(FieldError("remove", f"also lists {names} to add; choose one"))
    if errors:
        raise InvalidInput(errors)
    if case.status_enum not in REVIEWS_OPEN:
        raise Conflict(
            f"The case is {case.status}; its specialties can change only while it is in review"
        )
    case.added_specialties = _ordered(
        [s for s in _specialties(case.added_specialties) if s not in remove] + add
    )
    case.removed_specialties = _ordered(
        [s for s in _specialties(case.removed_specialties) if s not in add] + remove
    )
    if remove:
        _take_off(case, remove, coordinator)
    audit.record(
        "case_specialties",
        actor=coordinator,
        case_id=case.id,
        object_type="case",
        object_id=case.id,
    )
    outbox.enqueue("routing.route_case", case_id=case.id)
    db.session.commit()
    return case


def _take_off(case: Case, removed: list[Specialty], coordinator: User) -> None:
    """Ends the open primary assignments of removed specialties. A completed review
    is never touched: what was signed stays on the record."""
    # Imported here: record_requests builds on this module (refresh_status).
    from board.cases.record_requests import withdraw_requests_of

    open_primaries = db.session.scalars(
        select(Assignment)
        .where(
            Assignment.case_id == case.id,
            Assignment.purpose == Purpose.PRIMARY.value,
            Assignment.status.in_(OPEN_ASSIGNMENT),
            Assignment.specialty.in_([s.value for s in removed]),
        )
        .with_for_update()
    ).all()
    for assignment in open_primaries:
        assignment.status = AssignmentStatus.REASSIGNED.value
        label = SPECIALTY_LABEL[Specialty(assignment.specialty)].lower()
        notify(
            assignment.reviewer_id,
            kind="reassigned",
            case_id=case.id,
            key=keys.reassigned(assignment.id),
            message=f"The coordinator took {label} off case #{case.id}: your assignment "
            "has ended and no action is needed from you.",
        )
        withdraw_requests_of(assignment, actor=coordinator)
        audit.record(
            "assignment_remove",
            actor=coordinator,
            case_id=case.id,
            object_type="assignment",
            object_id=assignment.id,
        )


def set_auto_reassign(coordinator: User, case_id: int, on: bool) -> Case:
    """Whether an overdue assignment of this case moves to the next eligible reviewer
    by itself (board.reviews.clock) or only tells the coordinator."""
    case = _case_for_coordinator(coordinator, case_id)
    if case.auto_reassign != on:
        case.auto_reassign = on
        audit.record(
            "case_auto_reassign",
            actor=coordinator,
            case_id=case.id,
            object_type="case",
            object_id=case.id,
        )
    db.session.commit()
    return case
