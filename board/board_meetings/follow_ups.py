"""After release: the referrer's follow-up questions (answered by the coordinator as
an addendum to the second opinion) and whether the recommendation was carried out."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, tuple_

from board.audit import services as audit
from board.auth import policy
from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings.models import FollowUpQuestion
from board.cases.models import Case
from board.cases.rules import CaseStatus
from board.db import utcnow
from board.errors import Conflict, NotFound
from board.extensions import db
from board.notifications import keys
from board.notifications.services import notify, notify_coordinators
from board.validation import FieldError, InvalidInput

MAX_QUESTIONS = 3
IMPLEMENTATION = ("fully", "partly", "not")
RELEASED = (CaseStatus.REPORTED, CaseStatus.ACKNOWLEDGED)


def _released_own_case(referrer: User, case_id: int) -> Case:
    case = db.session.get(Case, case_id, with_for_update=True)
    if case is None or not policy.can_edit_draft(
        user_id=referrer.id, role=Role(referrer.role), referrer_id=case.referrer_id
    ):
        raise NotFound()
    if case.status_enum not in RELEASED:
        raise Conflict("The second opinion has not been released yet")
    return case


def questions_for(case_id: int) -> list[FollowUpQuestion]:
    return list(
        db.session.scalars(
            select(FollowUpQuestion)
            .where(FollowUpQuestion.case_id == case_id)
            .order_by(FollowUpQuestion.id)
        )
    )


def ask(referrer: User, case_id: int, question: str) -> FollowUpQuestion:
    case = _released_own_case(referrer, case_id)
    text = question.strip()
    if not text:
        raise InvalidInput([FieldError("question", "A question is required")])
    asked = db.session.scalar(
        select(func.count())
        .select_from(FollowUpQuestion)
        .where(FollowUpQuestion.case_id == case.id)
    )
    if (asked or 0) >= MAX_QUESTIONS:
        raise InvalidInput(
            [FieldError("question", f"At most {MAX_QUESTIONS} follow-up questions per case")]
        )
    item = FollowUpQuestion(case_id=case.id, asked_by_id=referrer.id, question=text)
    db.session.add(item)
    db.session.flush()
    notify_coordinators(
        kind="follow_up",
        case_id=case.id,
        key=keys.follow_up_asked(item.id),
        message=f"The referrer of case #{case.id} asked a follow-up question.",
    )
    audit.record(
        "follow_up_ask",
        actor=referrer,
        case_id=case.id,
        object_type="follow_up",
        object_id=item.id,
    )
    db.session.commit()
    return item


def answer(coordinator: User, question_id: int, text: str) -> FollowUpQuestion:
    policy.require_coordinator(coordinator)
    item = db.session.get(FollowUpQuestion, question_id, with_for_update=True)
    if item is None:
        raise NotFound()
    policy.check_coordinated_case(coordinator, db.session.get(Case, item.case_id))
    if item.answer is not None:
        raise Conflict("This question has been answered; the addendum is not edited")
    if not text.strip():
        raise InvalidInput([FieldError("answer", "An answer is required")])
    item.answer = text.strip()
    item.answered_by_id = coordinator.id
    item.answered_at = utcnow()
    case = db.session.get_one(Case, item.case_id)
    notify(
        case.referrer_id,
        kind="follow_up_answer",
        case_id=case.id,
        key=keys.follow_up_answered(item.id),
        message=f"Your follow-up question on case #{case.id} has been answered.",
    )
    audit.record(
        "follow_up_answer",
        actor=coordinator,
        case_id=case.id,
        object_type="follow_up",
        object_id=item.id,
    )
    db.session.commit()
    return item


def record_implementation(referrer: User, case_id: int, outcome: str, note: str | None) -> Case:
    """Whether the recommendation was carried out; partly or not needs the reason."""
    case = _released_own_case(referrer, case_id)
    if outcome not in IMPLEMENTATION:
        raise InvalidInput([FieldError("implementation", "fully, partly or not")])
    note = (note or "").strip() or None
    if outcome != "fully" and note is None:
        raise InvalidInput(
            [FieldError("note", "Say why the recommendation was not fully carried out")]
        )
    case.implementation = outcome
    case.implementation_note = note
    case.implementation_recorded_at = utcnow()
    audit.record(
        "implementation_record",
        actor=referrer,
        case_id=case.id,
        object_type="case",
        object_id=case.id,
    )
    db.session.commit()
    return case


@dataclass(frozen=True)
class Waiting:
    """The questions still waiting for the coordinator's answer, oldest first, a page
    at a time: `questions` from the start (or after `after`), how many wait in all, and
    the id to ask the next page with (None on the last)."""

    questions: list[FollowUpQuestion]
    total: int
    next_after: int | None


def open_questions(coordinator: User, *, limit: int, after: int | None = None) -> Waiting:
    """The questions waiting for an answer, oldest first (by the time asked, then id:
    the partial index of unanswered questions), `limit` of them after the question
    `after`. Case numbers and times only are shown: no patient's data."""
    if coordinator.role != Role.COORDINATOR:
        raise NotFound()
    unanswered = FollowUpQuestion.answer.is_(None)
    # The first page's rows carry how many wait in all (a window count, taken before the
    # LIMIT): one statement for the dashboard's card. A later page counts on its own.
    waiting = select(FollowUpQuestion, func.count().over().label("total")).where(unanswered)
    if after is not None:
        mark = (
            select(tuple_(FollowUpQuestion.asked_at, FollowUpQuestion.id))
            .where(FollowUpQuestion.id == after)
            .scalar_subquery()
        )
        waiting = waiting.where(tuple_(FollowUpQuestion.asked_at, FollowUpQuestion.id) > mark)
    found = db.session.execute(
        waiting.order_by(FollowUpQuestion.asked_at, FollowUpQuestion.id).limit(limit + 1)
    ).all()
    if after is None:
        total = found[0].total if found else 0
    else:
        total = db.session.scalar(
            select(func.count()).select_from(FollowUpQuestion).where(unanswered)
        )
    shown = [row.FollowUpQuestion for row in found[:limit]]
    return Waiting(shown, int(total or 0), shown[-1].id if len(found) > limit else None)
