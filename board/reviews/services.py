"""Assignments and reviews: accept, decline, review, reassign. Owns its transactions."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, NamedTuple

from sqlalchemy import Select, bindparam, select, union_all
from sqlalchemy.orm import selectinload

from board.audit import services as audit
from board.auth import policy
from board.auth.models import User
from board.auth.roles import REVIEWER_SPECIALTY, SPECIALTY_LABEL, Role
from board.cases.models import Case
from board.cases.record_requests import withdraw_requests_of
from board.cases.rules import REVIEWS_OPEN
from board.concordance import summaries
from board.db import utcnow
from board.errors import Conflict, NotFound
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
    Review,
    ReviewVerdict,
    Verdict,
    assignment_is_overdue,
)
from board.reviews.rules import DifferReason, reasons_from_alternative
from board.reviews.schemas import ReviewInput, VerdictInput
from board.routing.services import create_assignment, refresh_status
from board.transactions import atomic
from board.validation import FieldError, InvalidInput

# The inbox lists every open assignment and the latest closed ones (a reviewer keeps
# years of completed assignments).
CLOSED_ASSIGNMENTS_SHOWN = 50


class ListedAssignment(NamedTuple):
    """One of a reviewer's assignments as their lists show it (reviews/inbox.html, the
    API's serializers.assignment_json), with its case's timepoint and clock, read as a
    plain row: no ORM objects for a list of sixty."""

    id: int
    case_id: int
    reviewer_id: int
    specialty: str
    purpose: str
    tie_break_dimension: str | None
    status: str
    reason: str
    created_at: dt.datetime
    due_at: dt.datetime
    decline_reason: str | None
    timepoint: str
    paused_at: dt.datetime | None
    reviewer: User

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ASSIGNMENT

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return assignment_is_overdue(self.status, self.due_at, self.paused_at, now)


def _listed_statement() -> Select[Any]:
    """A reviewer's open assignments and their latest closed ones (built once: a bound
    parameter names the reviewer)."""
    mine = select(Assignment.id).where(Assignment.reviewer_id == bindparam("reviewer_id"))
    open_ids = mine.where(Assignment.status.in_([s.value for s in OPEN_ASSIGNMENT]))
    latest_closed = (
        mine.where(Assignment.status.not_in([s.value for s in OPEN_ASSIGNMENT]))
        # The latest: newest first through the (reviewer_id, created_at) index.
        .order_by(Assignment.created_at.desc(), Assignment.id.desc())
        .limit(CLOSED_ASSIGNMENTS_SHOWN)
        # A subquery of its own: SQLite refuses a LIMIT on a member of a UNION ALL.
        .subquery()
    )
    shown = union_all(open_ids, select(latest_closed.c.id)).subquery()
    return (
        select(
            Assignment.id,
            Assignment.case_id,
            Assignment.reviewer_id,
            Assignment.specialty,
            Assignment.purpose,
            Assignment.tie_break_dimension,
            Assignment.status,
            Assignment.reason,
            Assignment.created_at,
            Assignment.due_at,
            Assignment.decline_reason,
            Case.timepoint,
            Case.paused_at,
        )
        .join(Case, Case.id == Assignment.case_id)
        .where(Assignment.id.in_(select(shown.c.id)))
        .order_by(Assignment.due_at, Assignment.id)
    )


_LISTED = _listed_statement()


def assignments_for(reviewer: User) -> list[ListedAssignment]:
    """A reviewer's open assignments and their CLOSED_ASSIGNMENTS_SHOWN latest others,
    by due date."""
    audit.record_read("assignment_list", actor=reviewer, object_type="assignment_list")
    rows = db.session.execute(_LISTED, {"reviewer_id": reviewer.id})
    return [ListedAssignment._make((*row, reviewer)) for row in rows]


def _own_assignment(reviewer: User, assignment_id: int, *, lock: bool = False) -> Assignment:
    assignment = db.session.get(Assignment, assignment_id, with_for_update=lock)
    if assignment is None or assignment.reviewer_id != reviewer.id:
        raise NotFound()
    return assignment


def accept(reviewer: User, assignment_id: int) -> Assignment:
    assignment = _own_assignment(reviewer, assignment_id, lock=True)
    if assignment.status == AssignmentStatus.ACCEPTED:
        return assignment
    if assignment.status != AssignmentStatus.OFFERED:
        raise Conflict(f"This assignment is {assignment.status} and can no longer be accepted")
    assignment.status = AssignmentStatus.ACCEPTED.value
    assignment.responded_at = utcnow()
    audit.record(
        "assignment_accept",
        actor=reviewer,
        case_id=assignment.case_id,
        object_type="assignment",
        object_id=assignment.id,
    )
    db.session.commit()
    return assignment


@atomic
def decline(reviewer: User, assignment_id: int, reason: str) -> Assignment:
    """A declined assignment is routed again at once to the next eligible reviewer."""
    if not reason or not reason.strip():
        raise InvalidInput([FieldError("reason", "is required: say why you decline")])
    assignment = _own_assignment(reviewer, assignment_id, lock=True)
    if assignment.status not in OPEN_ASSIGNMENT:
        raise Conflict(f"This assignment is {assignment.status} and can no longer be declined")
    assignment.status = AssignmentStatus.DECLINED.value
    assignment.responded_at = utcnow()
    assignment.decline_reason = reason.strip()
    specialty = SPECIALTY_LABEL[REVIEWER_SPECIALTY[Role(reviewer.role)]]
    if assignment.purpose == Purpose.TIE_BREAK:
        # Routing fills only the primary reviews a case needs; whether the tie still
        # needs breaking (and by whom) is the coordinator's call.
        next_step = (
            f"the tie-break on the {assignment.tie_break_dimension} is not routed again "
            "automatically; request it again if it is still needed."
        )
    elif assignment.purpose == Purpose.ADDITIONAL:
        next_step = (
            "the second reading is not routed again automatically; "
            "add another reader if it is still needed."
        )
    else:
        next_step = "it is being routed to the next eligible reviewer."
    notify_coordinators(
        kind="declined",
        case_id=assignment.case_id,
        key=keys.declined(assignment.id),
        message=f"A reviewer declined case #{assignment.case_id} ({specialty}); {next_step}",
    )
    withdraw_requests_of(assignment, actor=reviewer)
    outbox.enqueue("routing.route_case", case_id=assignment.case_id)
    audit.record(
        "assignment_decline",
        actor=reviewer,
        case_id=assignment.case_id,
        object_type="assignment",
        object_id=assignment.id,
    )
    db.session.commit()
    return assignment


def _reasons(original: dict[str, Any], verdict: VerdictInput) -> list[str]:
    """The reviewer's reasons, plus those the structured alternative implies."""
    given = [DifferReason(r) for r in verdict.reasons or []]
    implied = reasons_from_alternative(original or {}, verdict.alternative_json())
    return [r.value for r in DifferReason if r in given or r in implied]


def _signature(reviewer: User, assignment: Assignment, data: ReviewInput, signed_at: str) -> str:
    canonical = json.dumps(
        {
            "reviewer": reviewer.id,
            "assignment": assignment.id,
            "signed_at": signed_at,
            "verdicts": {
                name: {
                    "verdict": v.verdict,
                    "severity": v.severity,
                    "alternative": v.alternative_json(),
                    "rationale": v.rationale,
                    "reasons": v.reasons,
                }
                for name, v in data.verdicts().items()
            },
            "additional_options": data.additional_options,
            "retesting": data.retesting,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@atomic
def submit_review(reviewer: User, assignment_id: int, data: ReviewInput) -> Review:
    """Signs the review. There is one per assignment and it is never edited."""
    assignment = _own_assignment(reviewer, assignment_id, lock=True)
    if assignment.review is not None or assignment.status == AssignmentStatus.COMPLETED:
        raise Conflict("This assignment already has a signed review; it cannot be changed")
    if assignment.status not in OPEN_ASSIGNMENT:
        raise Conflict(f"This assignment is {assignment.status}; it cannot be reviewed")
    case = db.session.get(Case, assignment.case_id, with_for_update=True)
    assert case is not None
    if case.status_enum not in REVIEWS_OPEN:
        raise Conflict(f"The case is {case.status}; reviews are closed")
    now = utcnow()
    review = Review(
        assignment_id=assignment.id,
        case_id=assignment.case_id,
        reviewer_id=reviewer.id,
        additional_options=data.additional_options,
        signed_at=now,
        signature=_signature(reviewer, assignment, data, now.isoformat()),
    )
    review.retesting = list(data.retesting or [])
    review.verdicts = [
        ReviewVerdict(
            dimension=name,
            verdict=v.verdict,
            severity=v.severity,
            alternative=v.alternative_json(),
            reasons=_reasons(getattr(case, name), v) if v.verdict == Verdict.DIFFER else [],
            rationale=v.rationale,
        )
        for name, v in data.verdicts().items()
    ]
    db.session.add(review)
    if assignment.responded_at is None:
        assignment.responded_at = now  # reviewing an offered assignment accepts it
    assignment.status = AssignmentStatus.COMPLETED.value
    assignment.completed_at = now
    db.session.flush()
    # The dashboard's counts commit with the review (board.concordance.summaries).
    summaries.refresh_case(case.id)
    audit.record(
        "review_submit", actor=reviewer, case_id=case.id, object_type="review", object_id=review.id
    )
    refresh_status(case, actor=reviewer)
    db.session.commit()
    return review


def assignment_for_reviewer(reviewer: User, assignment_id: int) -> Assignment:
    """The assignment with its case, if it is this reviewer's and the policy still lets
    them see the case (open or signed, the case not withdrawn), audited."""
    assignment = _own_assignment(reviewer, assignment_id)
    if (
        assignment.status not in ACTIVE_ASSIGNMENT
        or policy.access_to(reviewer, assignment.case) is not policy.Access.FULL
    ):
        raise NotFound()
    audit.record(
        "case_view",
        actor=reviewer,
        case_id=assignment.case_id,
        object_type="assignment",
        object_id=assignment.id,
    )
    db.session.commit()
    return assignment


def reviews_for_case(case_id: int) -> list[Review]:
    return list(
        db.session.scalars(
            select(Review)
            .where(Review.case_id == case_id)
            .options(selectinload(Review.verdicts), selectinload(Review.assignment))
            .order_by(Review.id)
        )
    )


def assignments_for_case(case_id: int) -> list[Assignment]:
    return list(
        db.session.scalars(
            select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
        )
    )


def _coordinator(user: User) -> None:
    policy.require_coordinator(user)


@atomic
def reassign(coordinator: User, assignment_id: int, new_reviewer_id: int | None) -> Assignment:
    """Takes an open assignment off its reviewer; gives it to the named reviewer or,
    with none named, lets routing pick the next eligible one."""
    _coordinator(coordinator)
    assignment = db.session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None:
        raise NotFound()
    policy.check_coordinated_case(coordinator, assignment.case)
    if assignment.status not in OPEN_ASSIGNMENT:
        raise Conflict(
            f"This assignment is {assignment.status}; only an open one can be reassigned"
        )
    assignment.status = AssignmentStatus.REASSIGNED.value
    notify(
        assignment.reviewer_id,
        kind="reassigned",
        case_id=assignment.case_id,
        key=keys.reassigned(assignment.id),
        message=f"Your assignment on case #{assignment.case_id} was given to another reviewer "
        "by the coordinator; no action is needed from you.",
    )
    audit.record(
        "assignment_reassign",
        actor=coordinator,
        case_id=assignment.case_id,
        object_type="assignment",
        object_id=assignment.id,
    )
    withdraw_requests_of(assignment, actor=coordinator)
    if new_reviewer_id is not None:
        db.session.flush()
        _assign_by_hand(coordinator, assignment.case_id, new_reviewer_id, replacing=assignment)
    elif assignment.purpose == Purpose.PRIMARY:
        outbox.enqueue("routing.route_case", case_id=assignment.case_id)
    else:
        # A second reader or a tie-break is the coordinator's choice, not routing's.
        refresh_status(assignment.case, actor=coordinator)
    db.session.commit()
    return assignment


@atomic
def assign_by_hand(coordinator: User, case_id: int, reviewer_id: int) -> Assignment:
    _coordinator(coordinator)
    assignment = _assign_by_hand(coordinator, case_id, reviewer_id)
    db.session.commit()
    return assignment


def _assign_by_hand(
    coordinator: User, case_id: int, reviewer_id: int, *, replacing: Assignment | None = None
) -> Assignment:
    """Assigns a reviewer the coordinator chose. Replacing an assignment keeps its
    purpose (a tie-break stays a tie-break on the same dimension)."""
    case = policy.check_coordinated_case(
        coordinator, db.session.get(Case, case_id, with_for_update=True)
    )
    if case.status_enum not in REVIEWS_OPEN:
        raise Conflict(f"The case is {case.status}; reviewers can no longer be added")
    reviewer = db.session.get(User, reviewer_id)
    if reviewer is None or reviewer.specialty is None or not reviewer.active:
        raise InvalidInput([FieldError("reviewer_id", "is not an active reviewer")])
    if reviewer.institution_id == case.institution_id:
        raise InvalidInput(
            [
                FieldError(
                    "reviewer_id",
                    "works at the referrer's institution (conflict of interest); "
                    "choose someone else",
                )
            ]
        )
    existing = db.session.scalar(
        select(Assignment).where(
            Assignment.case_id == case.id, Assignment.reviewer_id == reviewer.id
        )
    )
    if existing is not None:
        raise Conflict("This reviewer has already been assigned this case once")
    specialty = reviewer.specialty
    covered_by = db.session.scalar(
        select(Assignment).where(
            Assignment.case_id == case.id,
            Assignment.specialty == specialty.value,
            Assignment.purpose == Purpose.PRIMARY.value,
            Assignment.status.in_(ACTIVE_ASSIGNMENT),
        )
    )
    dimension = None
    if replacing is not None and replacing.purpose != Purpose.PRIMARY:
        purpose, dimension = Purpose(replacing.purpose), replacing.tie_break_dimension
        reason = (
            f"replaces {replacing.reviewer.name} ({purpose.value.replace('_', '-')}), "
            f"assigned by the coordinator, {coordinator.name}"
        )
    elif covered_by is None:
        purpose, reason = Purpose.PRIMARY, f"assigned by the coordinator, {coordinator.name}"
    else:
        # The specialty already has its reviewer: the coordinator asks for a second
        # opinion of the same specialty (where the two differ, a tie-break can follow).
        purpose = Purpose.ADDITIONAL
        reason = (
            f"second {SPECIALTY_LABEL[specialty].lower()} reader beside "
            f"{covered_by.reviewer.name}, added by the coordinator, {coordinator.name}"
        )
    assignment = create_assignment(
        case,
        reviewer_id=reviewer.id,
        specialty=specialty,
        reason=reason,
        assigned_by=coordinator,
        purpose=purpose,
        tie_break_dimension=dimension,
    )
    refresh_status(case, actor=coordinator)
    return assignment


def active_assignment_on(reviewer: User, case_id: int) -> Assignment | None:
    """The reviewer's active assignment on a case, if any (how a link to the case
    finds the reviewer's own page for it)."""
    return db.session.scalar(
        select(Assignment).where(
            Assignment.case_id == case_id,
            Assignment.reviewer_id == reviewer.id,
            Assignment.status.in_(ACTIVE_ASSIGNMENT),
        )
    )
