"""Tumor-board meetings and their agenda: schedule (weekly series too), move,
cancel, attendance, and which cases the coordinator may put up for discussion."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import selectinload

from board.audit import services as audit
from board.auth import policy
from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings.models import AgendaItem, Meeting, MeetingAttendance
from board.cases.models import Case
from board.cases.rules import CaseStatus
from board.errors import Conflict, NotFound
from board.extensions import db
from board.reviews.models import Review, ReviewVerdict
from board.reviews.tie_breaks import case_disagreements

SCHEDULED = "scheduled"
CANCELLED = "cancelled"
MAX_WEEKS = 52


def _require_coordinator(user: User) -> None:
    policy.require_coordinator(user)


def _meeting(user: User, meeting_id: int) -> Meeting:
    _require_coordinator(user)
    meeting = db.session.get(Meeting, meeting_id, with_for_update=True)
    if meeting is None:
        raise NotFound()
    return meeting


def _audit(action: str, user: User, meeting: Meeting, case_id: int | None = None) -> None:
    audit.record(action, actor=user, case_id=case_id, object_type="meeting", object_id=meeting.id)


def create_meeting(
    coordinator: User,
    *,
    starts_at: dt.datetime,
    duration_minutes: int = 60,
    place: str | None = None,
    video_link: str | None = None,
    expected_specialties: list[str] | None = None,
    weeks: int = 1,
) -> list[Meeting]:
    """One meeting, or `weeks` weekly meetings sharing a series_id."""
    _require_coordinator(coordinator)
    if starts_at.tzinfo is None:
        raise Conflict("A meeting's start needs a time zone")
    if not 1 <= weeks <= MAX_WEEKS:
        raise Conflict(f"A weekly series runs 1 to {MAX_WEEKS} weeks")
    if not place and not video_link:
        raise Conflict("A meeting needs a place or a video link")
    series_id = str(uuid.uuid4()) if weeks > 1 else None
    meetings = [
        Meeting(
            starts_at=starts_at.astimezone(dt.UTC) + dt.timedelta(weeks=week),
            duration_minutes=duration_minutes,
            place=place,
            video_link=video_link,
            expected_specialties=list(expected_specialties or []),
            status=SCHEDULED,
            series_id=series_id,
            created_by_id=coordinator.id,
        )
        for week in range(weeks)
    ]
    db.session.add_all(meetings)
    db.session.flush()
    for meeting in meetings:
        _audit("meeting_create", coordinator, meeting)
    db.session.commit()
    return meetings


def list_meetings(coordinator: User) -> list[Meeting]:
    _require_coordinator(coordinator)
    return list(
        db.session.scalars(
            select(Meeting)
            .options(selectinload(Meeting.agenda_items))
            .order_by(Meeting.starts_at, Meeting.id)
        )
    )


# The meetings page lists every upcoming meeting and the latest past ones (a weekly
# board holds fifty-two a year).
PAST_MEETINGS_SHOWN = 26


@dataclass(frozen=True)
class MeetingsOverview:
    upcoming: list[Meeting]  # soonest first
    past: list[Meeting]  # latest first, at most PAST_MEETINGS_SHOWN
    past_count: int


def meetings_overview(coordinator: User, since: dt.datetime) -> MeetingsOverview:
    """The meetings page: those starting at `since` or later, and the latest before."""
    _require_coordinator(coordinator)
    with_agenda = select(Meeting).options(selectinload(Meeting.agenda_items))
    upcoming = db.session.scalars(
        with_agenda.where(Meeting.starts_at >= since).order_by(Meeting.starts_at, Meeting.id)
    )
    past = db.session.scalars(
        with_agenda.where(Meeting.starts_at < since)
        .order_by(Meeting.starts_at.desc(), Meeting.id.desc())
        .limit(PAST_MEETINGS_SHOWN)
    )
    past_count = db.session.scalar(
        select(func.count()).select_from(Meeting).where(Meeting.starts_at < since)
    )
    return MeetingsOverview(list(upcoming), list(past), int(past_count or 0))


def move_meeting(coordinator: User, meeting_id: int, starts_at: dt.datetime) -> Meeting:
    meeting = _meeting(coordinator, meeting_id)
    if meeting.status == CANCELLED:
        raise Conflict("A cancelled meeting cannot be moved")
    if starts_at.tzinfo is None:
        raise Conflict("A meeting's start needs a time zone")
    meeting.starts_at = starts_at.astimezone(dt.UTC)
    _audit("meeting_move", coordinator, meeting)
    db.session.commit()
    return meeting


def cancel_meeting(coordinator: User, meeting_id: int) -> Meeting:
    """The agenda stays, shown as belonging to a cancelled meeting."""
    meeting = _meeting(coordinator, meeting_id)
    meeting.status = CANCELLED
    _audit("meeting_cancel", coordinator, meeting)
    db.session.commit()
    return meeting


def set_attendance(coordinator: User, meeting_id: int, user_ids: list[int]) -> list[int]:
    meeting = _meeting(coordinator, meeting_id)
    wanted = set(user_ids)
    known = set(db.session.scalars(select(User.id).where(User.id.in_(wanted))))
    if known != wanted:
        raise Conflict(f"Unknown users: {sorted(wanted - known)}")
    db.session.execute(delete(MeetingAttendance).where(MeetingAttendance.meeting_id == meeting.id))
    db.session.add_all(MeetingAttendance(meeting_id=meeting.id, user_id=uid) for uid in wanted)
    _audit("meeting_attendance", coordinator, meeting)
    db.session.commit()
    return sorted(wanted)


def attendee_ids(meeting_id: int) -> list[int]:
    return sorted(
        db.session.scalars(
            select(MeetingAttendance.user_id).where(MeetingAttendance.meeting_id == meeting_id)
        )
    )


def why_discuss(case: Case) -> str | None:
    """Why a case may go on the agenda, or None: every review is in, or a review in
    progress already shows a major discordance or a reviewer disagreement."""
    status = case.status_enum
    if status is CaseStatus.READY_FOR_BOARD:
        return "ready for board"
    if status is not CaseStatus.IN_REVIEW:
        return None
    major = db.session.scalar(
        select(func.count())
        .select_from(ReviewVerdict)
        .join(Review, Review.id == ReviewVerdict.review_id)
        .where(
            Review.case_id == case.id,
            ReviewVerdict.verdict == "differ",
            ReviewVerdict.severity == "major",
        )
    )
    if major:
        return "major discordance"
    if case_disagreements(case.id):
        return "reviewer disagreement"
    return None


def add_to_agenda(coordinator: User, meeting_id: int, case_id: int) -> AgendaItem:
    meeting = _meeting(coordinator, meeting_id)
    if meeting.status == CANCELLED:
        raise Conflict("The meeting is cancelled")
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound()
    if why_discuss(case) is None:
        raise Conflict(
            "Only a case ready for board, or one in review with a major discordance or "
            f"a reviewer disagreement, goes on the agenda (the case is "
            f"{case.status.replace('_', ' ')} with nothing to discuss)"
        )
    existing = db.session.scalar(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.case_id == case.id)
    )
    if existing is not None:
        return existing
    last = db.session.scalar(
        select(func.max(AgendaItem.position)).where(AgendaItem.meeting_id == meeting.id)
    )
    item = AgendaItem(
        meeting_id=meeting.id,
        case_id=case.id,
        position=(last + 1) if last is not None else 0,
        added_by_id=coordinator.id,
    )
    db.session.add(item)
    db.session.flush()
    _audit("agenda_add", coordinator, meeting, case.id)
    db.session.commit()
    return item


def remove_from_agenda(coordinator: User, meeting_id: int, case_id: int) -> None:
    meeting = _meeting(coordinator, meeting_id)
    item = db.session.scalar(
        select(AgendaItem).where(AgendaItem.meeting_id == meeting.id, AgendaItem.case_id == case_id)
    )
    if item is None:
        raise NotFound()
    db.session.delete(item)
    _audit("agenda_remove", coordinator, meeting, case_id)
    db.session.commit()


def reorder_agenda(coordinator: User, meeting_id: int, case_ids: list[int]) -> list[int]:
    """`case_ids` is the whole agenda in its new order."""
    meeting = _meeting(coordinator, meeting_id)
    items = {item.case_id: item for item in meeting.agenda_items}
    if sorted(case_ids) != sorted(items):
        raise Conflict("The new order must list every case on the agenda exactly once")
    for position, case_id in enumerate(case_ids):
        items[case_id].position = position
    _audit("agenda_reorder", coordinator, meeting)
    db.session.commit()
    return case_ids


def agenda(meeting_id: int) -> list[AgendaItem]:
    return list(
        db.session.scalars(
            select(AgendaItem)
            .where(AgendaItem.meeting_id == meeting_id)
            .order_by(AgendaItem.position, AgendaItem.id)
        )
    )


# --- What the coordinator's meeting pages read ------------------------------------------


def meeting_for_coordinator(coordinator: User, meeting_id: int) -> Meeting:
    """The meeting with its agenda; opening it reads every agenda case (audited)."""
    _require_coordinator(coordinator)
    meeting = db.session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound()
    audit.record("meeting_view", actor=coordinator, object_type="meeting", object_id=meeting.id)
    for item in meeting.agenda_items:
        _audit("meeting_case_view", coordinator, meeting, item.case_id)
    db.session.commit()
    return meeting


def eligible_cases(coordinator: User, meeting_id: int) -> list[tuple[Case, str]]:
    """The cases the coordinator may still add to this meeting's agenda, with why."""
    _require_coordinator(coordinator)
    on_agenda = select(AgendaItem.case_id).where(AgendaItem.meeting_id == meeting_id)
    candidates = db.session.scalars(
        select(Case)
        .where(
            Case.status.in_([CaseStatus.READY_FOR_BOARD.value, CaseStatus.IN_REVIEW.value]),
            Case.id.not_in(on_agenda),
        )
        .order_by(Case.due_at, Case.id)
    )
    out = []
    for case in candidates:
        reason = why_discuss(case)
        if reason is not None:
            out.append((case, reason))
    # The list names patients: reading it is recorded like the dashboard's case list.
    audit.record("agenda_candidates", actor=coordinator, object_type="case_list")
    db.session.commit()
    return out


def move_on_agenda(coordinator: User, meeting_id: int, case_id: int, direction: str) -> list[int]:
    """One step up or down: the pages' way to reorder without script."""
    _require_coordinator(coordinator)
    order = [item.case_id for item in agenda(meeting_id)]
    if case_id not in order:
        raise NotFound()
    if direction not in ("up", "down"):
        raise Conflict("Move a case up or down")
    index = order.index(case_id)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(order):
        order[index], order[other] = order[other], order[index]
    return reorder_agenda(coordinator, meeting_id, order)


def board_people() -> list[User]:
    """Who may attend a meeting: the active reviewers and coordinators."""
    roles = [r.value for r in Role if r not in (Role.REFERRER, Role.ADMIN)]
    return list(
        db.session.scalars(
            select(User).where(User.active.is_(True), User.role.in_(roles)).order_by(User.name)
        )
    )
