"""The idempotency key of every notification: one name per event, so a repeated
task (a redelivery, a second beat, a retried request) that would tell the same
person about the same event adds nothing (UniqueConstraint(user_id, key)).

A key names the event, never the patient: ids, specialties and times only. Most
keys are the id of the row the event created; the few events without such a row
are named by the state they were raised in (see unroutable, ready_for_board)."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import func, select

from board.cases.models import CaseEvent
from board.extensions import db
from board.reviews.models import Assignment


def assignment(assignment_id: int) -> str:
    return f"assignment:{assignment_id}"


def reassigned(assignment_id: int) -> str:
    # The same key whether the coordinator or the clock (auto-reassign) moved it:
    # an assignment leaves its reviewer once.
    return f"reassigned:{assignment_id}"


def declined(assignment_id: int) -> str:
    return f"declined:{assignment_id}"


def records_requested(request_id: int) -> str:
    return f"records_requested:{request_id}"


def records_arrived(request_id: int) -> str:
    return f"records_arrived:{request_id}"


def clock_resumed(case_id: int, at: dt.datetime) -> str:
    """The last request of a pause closed: one message per reviewer per pause."""
    return f"clock_resumed:{case_id}:{at.isoformat()}"


def second_opinion(case_id: int) -> str:
    return f"second_opinion:{case_id}"  # a case is released once (CONSENSUS -> REPORTED)


def task_parked(outbox_id: int) -> str:
    return f"task_parked:{outbox_id}"


def before_due(assignment_id: int, due_at: dt.datetime) -> str:
    # Per due time: a due date moved by a clock pause earns its own reminders.
    return f"before_due:{assignment_id}:{due_at.isoformat()}"


def at_due(assignment_id: int, due_at: dt.datetime) -> str:
    return f"at_due:{assignment_id}:{due_at.isoformat()}"


def due_date_changed(assignment_id: int, due_at: dt.datetime) -> str:
    return f"due_date_changed:{assignment_id}:{due_at.isoformat()}"


def overdue(assignment_id: int, due_at: dt.datetime) -> str:
    return f"overdue:{assignment_id}:{due_at.isoformat()}"


def unroutable(case_id: int, specialties: list[str]) -> str:
    """Routing left these specialties uncovered. The same gaps among the same
    assignments (a repeated delivery) are one event; after a reviewer was added
    by hand and declined, the same gap again is news, so the number of assignments
    the case has had is part of the key (the caller has flushed the new ones)."""
    tried = db.session.scalar(
        select(func.count()).select_from(Assignment).where(Assignment.case_id == case_id)
    )
    return f"unroutable:{case_id}:{tried}:{'+'.join(sorted(specialties))}"


def routing_decision(case_id: int, items: list[str]) -> str:
    """The coordinator must decide on these items (e.g. insurance coverage): the same
    items again are the same event, named by a digest because reasons are sentences."""
    digest = hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()[:16]
    return f"routing_decision:{case_id}:{digest}"


def ready_for_board(case_id: int) -> str:
    """Every review is in. A case can go back to review (a tie-break, a second
    reader) and be ready again: its timeline's length tells the two apart."""
    events = db.session.scalar(
        select(func.count()).select_from(CaseEvent).where(CaseEvent.case_id == case_id)
    )
    return f"ready_for_board:{case_id}:{events}"


def follow_up_asked(question_id: int) -> str:
    return f"follow_up_asked:{question_id}"


def follow_up_answered(question_id: int) -> str:
    return f"follow_up_answered:{question_id}"


def break_glass(grant_id: int) -> str:
    return f"break_glass:{grant_id}"


def record_integrity(record_id: int, problem: str) -> str:
    return f"record-integrity:{record_id}:{problem}"
