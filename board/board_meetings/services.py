"""Consensus, release of the second opinion, and the referrer's acknowledgement."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from board.audit import services as audit
from board.auth import policy
from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings.follow_ups import questions_for
from board.board_meetings.models import Consensus, FollowUpQuestion
from board.board_meetings.schemas import ConsensusInput
from board.cases.models import Case
from board.cases.rules import CaseStatus
from board.cases.services import audit_access, transition, visible_case
from board.db import utcnow
from board.errors import Conflict, NotFound
from board.extensions import db
from board.notifications import keys
from board.notifications.services import notify
from board.reviews.models import Assignment, Review
from board.reviews.services import assignments_for_case, reviews_for_case


def _coordinated_case(user: User, case_id: int) -> Case:
    policy.require_coordinator(user)
    return policy.check_coordinated_case(user, db.session.get(Case, case_id, with_for_update=True))


def current_consensus(case_id: int) -> Consensus | None:
    return db.session.scalar(
        select(Consensus).where(Consensus.case_id == case_id).order_by(Consensus.version.desc())
    )


def record_consensus(coordinator: User, case_id: int, data: ConsensusInput) -> Consensus:
    """Signs the board's consensus. A second call before release makes a new version
    that supersedes the first; nothing signed is edited."""
    case = _coordinated_case(coordinator, case_id)
    status = case.status_enum
    if status not in (CaseStatus.READY_FOR_BOARD, CaseStatus.CONSENSUS):
        raise Conflict(
            "The consensus is recorded once every review is in (the case is "
            f"{status.value.replace('_', ' ')})"
        )
    previous = current_consensus(case.id)
    consensus = Consensus(
        case_id=case.id,
        version=(previous.version + 1) if previous else 1,
        supersedes_id=previous.id if previous else None,
        summary=data.summary,
        diagnosis=data.diagnosis.model_dump(mode="json", exclude_none=True)
        if data.diagnosis
        else None,
        stage=data.stage.model_dump(mode="json", exclude_none=True) if data.stage else None,
        plan=data.plan.model_dump(mode="json", exclude_none=True) if data.plan else None,
        recommendations=data.recommendations,
        signed_by_id=coordinator.id,
        signed_at=utcnow(),
    )
    db.session.add(consensus)
    db.session.flush()
    transition(
        case, CaseStatus.CONSENSUS, actor=coordinator, note=f"consensus version {consensus.version}"
    )
    audit.record(
        "consensus_sign",
        actor=coordinator,
        case_id=case.id,
        object_type="consensus",
        object_id=consensus.id,
    )
    db.session.commit()
    return consensus


def release(coordinator: User, case_id: int) -> Case:
    case = _coordinated_case(coordinator, case_id)
    if case.status_enum is not CaseStatus.CONSENSUS:
        raise Conflict("Only a case with a signed consensus can be released")
    case.reported_at = utcnow()
    transition(case, CaseStatus.REPORTED, actor=coordinator)
    notify(
        case.referrer_id,
        kind="second_opinion",
        case_id=case.id,
        key=keys.second_opinion(case.id),
        message=f"The tumor board's second opinion on case #{case.id} is ready. "
        "Please read and acknowledge it.",
    )
    audit.record(
        "release", actor=coordinator, case_id=case.id, object_type="case", object_id=case.id
    )
    db.session.commit()
    return case


def acknowledge(referrer: User, case_id: int) -> Case:
    case = db.session.get(Case, case_id, with_for_update=True)
    if case is None or not policy.can_edit_draft(
        user_id=referrer.id, role=Role(referrer.role), referrer_id=case.referrer_id
    ):
        raise NotFound()
    if case.status_enum is CaseStatus.ACKNOWLEDGED:
        return case
    if case.status_enum is not CaseStatus.REPORTED:
        raise Conflict("There is no released second opinion to acknowledge yet")
    case.acknowledged_at = utcnow()
    transition(case, CaseStatus.ACKNOWLEDGED, actor=referrer)
    audit.record(
        "acknowledge", actor=referrer, case_id=case.id, object_type="case", object_id=case.id
    )
    db.session.commit()
    return case


@dataclass(frozen=True)
class SecondOpinion:
    case: Case
    assignments: list[Assignment]
    reviews: list[Review]
    consensus: Consensus
    # Answered follow-up questions, shown as an addendum.
    follow_ups: list[FollowUpQuestion] = field(default_factory=list)


def second_opinion_for(
    user: User, case_id: int, *, action: str = "second_opinion_view"
) -> SecondOpinion:
    """The consolidated second opinion, for the referrer once released and for the
    coordinator once a consensus exists."""
    role = Role(user.role)
    case = visible_case(user, case_id)
    consensus = current_consensus(case.id) if case is not None else None
    released = case is not None and case.status_enum in (
        CaseStatus.REPORTED,
        CaseStatus.ACKNOWLEDGED,
    )
    allowed = consensus is not None and (
        role is Role.COORDINATOR or (role is Role.REFERRER and released)
    )
    # One audit row either way: the second opinion read, or denied (as if missing).
    case = audit_access(
        user,
        action,
        case_id,
        case if allowed else None,
        object_type="consensus" if allowed else "case",
        object_id=consensus.id if allowed and consensus is not None else None,
    )
    assert consensus is not None
    answered = [q for q in questions_for(case.id) if q.answer is not None]
    return SecondOpinion(
        case, assignments_for_case(case.id), reviews_for_case(case.id), consensus, answered
    )
