"""The review clock at work: reminders to reviewers, escalation to the coordinator,
auto-reassignment. Celery beat runs `run_clock` every CLOCK_INTERVAL_SECONDS
(board/config.py); board/reviews/clock.py decides, this module does and marks.

Idempotent three times over, because a second beat started by mistake, an overlap
of two slow runs or a redelivered tick must send nothing twice:
- each assignment is handled in its own transaction, under row locks on it and its
  case taken with SKIP LOCKED (a run never waits for another; it leaves the row to
  whoever holds it), and its marks are read again under that lock;
- what was sent commits with its mark (reminded_*_for, overdue_flagged_at), so a
  crash mid-run repeats nothing already done and loses nothing not yet done;
- every message has a notification key (board.notifications.keys): the last line.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import OperationalError

from board.audit import services as audit
from board.auth.roles import SPECIALTY_LABEL, Specialty
from board.cases.models import Case
from board.cases.rules import REVIEW_PHASE
from board.db import utcnow
from board.extensions import db
from board.notifications import keys
from board.notifications.services import notify, notify_coordinators
from board.reviews.clock import Action, AssignmentClock, ClockDecision, decide
from board.reviews.models import OPEN_ASSIGNMENT, Assignment, AssignmentStatus, Purpose
from board.routing.policy import Choice, Gap, choose_reviewer
from board.routing.services import _facts, roster

log = logging.getLogger(__name__)


@dataclass
class ClockRun:
    """What one run did: counts per action, for the task log and the tests."""

    checked: int = 0
    reminded_before_due: int = 0
    reminded_at_due: int = 0
    escalated: int = 0
    reassigned: int = 0
    # Rows another run (a second beat) held: it handles them, this run leaves them.
    left_to_another_run: int = 0
    failed: list[int] = field(default_factory=list)

    def add(self, done: Counter[str]) -> None:
        """Counts one committed step (a step rolled back counts nothing)."""
        self.checked += 1
        for name, count in done.items():
            setattr(self, name, getattr(self, name) + count)


def run_clock(now: dt.datetime | None = None) -> ClockRun:
    """Sends every reminder and escalation due at `now` (default: the present)."""
    now = now or utcnow()
    window = dt.timedelta(hours=float(current_app.config["REMINDER_BEFORE_DUE_HOURS"]))
    run = ClockRun()
    due_ids = _candidates(now, window)
    db.session.commit()  # the scan's snapshot is not the one the steps decide in
    for assignment_id in due_ids:
        try:
            _step(assignment_id, now, window, run)
        except OperationalError:
            db.session.rollback()
            raise  # the database is away: this run stops, the next tick starts over
        except Exception:
            # One assignment's trouble must not hold up everyone else's reminders;
            # its marks were not written, so the next tick tries it again.
            db.session.rollback()
            log.exception("review clock: assignment %s failed; retried next tick", assignment_id)
            run.failed.append(assignment_id)
    if run.checked or run.left_to_another_run or run.failed:
        log.info("review clock: %s", run)
    return run


def _candidates(now: dt.datetime, window: dt.timedelta) -> list[int]:
    """Open assignments of running cases that may owe a reminder or an escalation:
    one query. The status index on cases (ix_cases_status_due_at) narrows it to the
    cases in review, the case_id index finds their assignments; rows already
    reminded and escalated for their due time drop out here, not one by one."""
    a = Assignment
    owes_before_due = and_(a.due_at > now, a.reminded_before_due_for.is_distinct_from(a.due_at))
    owes_at_or_after_due = and_(
        a.due_at <= now,
        or_(
            a.reminded_at_due_for.is_distinct_from(a.due_at),
            a.overdue_flagged_at.is_(None),
            a.overdue_flagged_at < a.due_at,
        ),
    )
    return list(
        db.session.scalars(
            select(a.id)
            .join(Case, Case.id == a.case_id)
            .where(
                Case.status.in_([s.value for s in REVIEW_PHASE]),
                Case.paused_at.is_(None),
                a.status.in_(OPEN_ASSIGNMENT),
                a.due_at <= now + window,
                or_(owes_before_due, owes_at_or_after_due),
            )
            .order_by(a.due_at, a.id)
        )
    )


def _step(assignment_id: int, now: dt.datetime, window: dt.timedelta, run: ClockRun) -> None:
    """One assignment, one transaction: lock, decide on fresh facts, act, mark, commit."""
    row = db.session.execute(
        select(Assignment, Case)
        .join(Case, Case.id == Assignment.case_id)
        .where(Assignment.id == assignment_id)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    ).first()
    if row is None:
        db.session.rollback()
        run.left_to_another_run += 1
        return
    assignment, case = row
    decision = decide(_clock_of(assignment, case), now, remind_before=window)
    done: Counter[str] = Counter()
    for step in decision.steps:
        if step.action is Action.REMIND_BEFORE_DUE:
            if step.send:
                _remind_before_due(assignment)
                done["reminded_before_due"] += 1
            assignment.reminded_before_due_for = assignment.due_at
        elif step.action is Action.REMIND_AT_DUE:
            _remind_at_due(assignment)
            assignment.reminded_at_due_for = assignment.due_at
            done["reminded_at_due"] += 1
        elif step.action is Action.ESCALATE:
            if _escalate(assignment, case, decision, now):
                done["reassigned"] += 1
            assignment.overdue_flagged_at = now
            done["escalated"] += 1
    db.session.commit()
    run.add(done)


def _clock_of(assignment: Assignment, case: Case) -> AssignmentClock:
    return AssignmentClock(
        due_at=assignment.due_at,
        assigned_at=assignment.created_at,
        is_open=assignment.status in OPEN_ASSIGNMENT,
        case_in_review=case.status_enum in REVIEW_PHASE,
        paused=case.paused_at is not None,
        auto_reassign=case.auto_reassign,
        reminded_before_due_for=assignment.reminded_before_due_for,
        reminded_at_due_for=assignment.reminded_at_due_for,
        escalated_at=assignment.overdue_flagged_at,
    )


def _label(assignment: Assignment) -> str:
    return SPECIALTY_LABEL[Specialty(assignment.specialty)]


def _when(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def _remind_before_due(assignment: Assignment) -> None:
    notify(
        assignment.reviewer_id,
        kind="review_due_soon",
        case_id=assignment.case_id,
        key=keys.before_due(assignment.id, assignment.due_at),
        message=f"Reminder: your {_label(assignment)} review of case #{assignment.case_id} "
        f"is due {_when(assignment.due_at)}.",
    )


def _remind_at_due(assignment: Assignment) -> None:
    notify(
        assignment.reviewer_id,
        kind="review_due",
        case_id=assignment.case_id,
        key=keys.at_due(assignment.id, assignment.due_at),
        message=f"Your {_label(assignment)} review of case #{assignment.case_id} is due now "
        f"({_when(assignment.due_at)}). Please sign it, or tell the coordinator if you cannot.",
    )


def _escalate(
    assignment: Assignment, case: Case, decision: ClockDecision, now: dt.datetime
) -> bool:
    """Tells the coordinators; with auto-reassign, first moves the assignment. Returns
    whether it moved."""
    late = (
        f"The {_label(assignment)} review of case #{case.id} was due "
        f"{_when(assignment.due_at)} and is not in."
    )
    moved: Assignment | None = None
    if decision.reassign:
        picked = _next_reviewer(assignment, case, now)
        if isinstance(picked, Choice):
            moved = _move(assignment, case, picked, now)
            late += (
                " As chosen for this case, it was moved to the next eligible reviewer, "
                f"due {_when(moved.due_at)}."
            )
        else:
            late += (
                " Auto-reassign found no other eligible reviewer "
                f"({picked.reason}); it stays with the current one."
            )
    notify_coordinators(
        kind="overdue",
        case_id=case.id,
        key=keys.overdue(assignment.id, assignment.due_at),
        message=late,
    )
    return moved is not None


def _next_reviewer(assignment: Assignment, case: Case, now: dt.datetime) -> Choice | Gap:
    # Nobody who has ever been on the case: the late reviewer, those who declined,
    # and those reading it in another capacity.
    everyone = db.session.scalars(
        select(Assignment.reviewer_id).where(Assignment.case_id == case.id)
    ).all()
    return choose_reviewer(
        _facts(case, now),
        roster(now),
        Specialty(assignment.specialty),
        exclude=everyone,
        need="replaces a reviewer whose review ran past its due time (auto-reassign)",
    )


def _move(old: Assignment, case: Case, picked: Choice, now: dt.datetime) -> Assignment:
    """The overdue assignment goes to `picked`, keeping its purpose (a tie-break stays
    a tie-break on the same dimension).

    The new reviewer gets a fresh REVIEW_DAYS (URGENT_REVIEW_DAYS for an urgent case)
    from now, not the case's due date: that date has passed, so an assignment due on
    arrival would be escalated and moved again at the next tick, and on through the
    whole roster. The case's own due date (the promise to the referrer) does not move:
    it stays overdue on the coordinator's dashboard."""
    old.status = AssignmentStatus.REASSIGNED.value
    db.session.flush()  # off the case's active specialty before the new one takes it
    days = current_app.config["URGENT_REVIEW_DAYS" if case.urgent else "REVIEW_DAYS"]
    new = Assignment(
        case_id=case.id,
        reviewer_id=picked.reviewer_id,
        specialty=old.specialty,
        purpose=old.purpose,
        tie_break_dimension=old.tie_break_dimension,
        reason=picked.reason,
        created_at=now,
        due_at=now + dt.timedelta(days=days),
    )
    db.session.add(new)
    db.session.flush()
    notify(
        old.reviewer_id,
        kind="reassigned",
        case_id=case.id,
        key=keys.reassigned(old.id),
        message=f"Your assignment on case #{case.id} passed its due time and was given to "
        "another reviewer, as the coordinator chose for this case; no action is needed from you.",
    )
    what = {
        Purpose.PRIMARY: "review",
        Purpose.ADDITIONAL: "give a second reading of",
        Purpose.TIE_BREAK: f"break a tie on the {old.tie_break_dimension} of",
    }[Purpose(old.purpose)]
    notify(
        new.reviewer_id,
        kind="assignment",
        case_id=case.id,
        key=keys.assignment(new.id),
        message=f"You have been asked to {what} case #{case.id} ({_label(new)}) in place of a "
        f"reviewer who ran out of time; due {_when(new.due_at)}.",
    )
    audit.record("assignment_reassign", case_id=case.id, object_type="assignment", object_id=old.id)
    audit.record("assign", case_id=case.id, object_type="assignment", object_id=new.id)
    return new
