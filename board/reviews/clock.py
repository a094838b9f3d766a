"""The review clock, as a pure rule: what an assignment's clock says now.

The service level (the routing issue, domain.md): a review is due REVIEW_DAYS
after the case became complete (URGENT_REVIEW_DAYS for an urgent case). The
reviewer is reminded REMINDER_BEFORE_DUE_HOURS before due and again at due; an
overdue assignment escalates to the coordinator and, where the coordinator chose
auto-reassign for the case, moves to the next eligible reviewer. Each of the three
happens once per due time: a due date moved by a clock pause earns its own.

No Flask, SQLAlchemy or Celery here: board/reviews/clock_service.py gathers the
facts, asks `decide`, and does (and marks) what it says; tests/unit/test_clock.py
checks it from a table.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class Action(enum.StrEnum):
    REMIND_BEFORE_DUE = "remind_before_due"
    REMIND_AT_DUE = "remind_at_due"
    ESCALATE = "escalate"


@dataclass(frozen=True)
class AssignmentClock:
    """What the rule needs to know about one assignment and its case."""

    due_at: dt.datetime
    assigned_at: dt.datetime
    is_open: bool = True  # offered or accepted: not completed, declined or reassigned
    case_in_review: bool = True  # not withdrawn, not past the reviews
    paused: bool = False  # the case awaits records a reviewer asked for
    auto_reassign: bool = False  # the coordinator's choice for this case
    # The due time each reminder was sent for (None: never sent).
    reminded_before_due_for: dt.datetime | None = None
    reminded_at_due_for: dt.datetime | None = None
    # When the coordinator was told it was overdue (None: never).
    escalated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Step:
    action: Action
    reason: str
    # False: settled without a message (the mark is stored, nothing is sent).
    send: bool = True


@dataclass(frozen=True)
class ClockDecision:
    steps: tuple[Step, ...] = ()
    # Why nothing else is due now, in words.
    quiet: tuple[str, ...] = ()
    # Escalating moves the assignment to the next eligible reviewer.
    reassign: bool = False

    @property
    def actions(self) -> tuple[Action, ...]:
        return tuple(step.action for step in self.steps)

    @property
    def reasons(self) -> tuple[str, ...]:
        return tuple(step.reason for step in self.steps) + self.quiet


def escalated_for(clock: AssignmentClock) -> bool:
    """Escalation happens after due, so an escalation at or after the current due
    time was for it; one before it was for an earlier due time a pause moved on."""
    return clock.escalated_at is not None and clock.escalated_at >= clock.due_at


def decide(
    clock: AssignmentClock, now: dt.datetime, *, remind_before: dt.timedelta
) -> ClockDecision:
    """Which of remind-before-due, remind-at-due and escalate are due at `now`,
    each with its reason. Safe to ask again: what was sent for this due time is
    never due again."""
    if not clock.is_open:
        return ClockDecision(quiet=("the assignment is closed: completed, declined or moved",))
    if not clock.case_in_review:
        return ClockDecision(quiet=("the case is no longer in review",))
    if clock.paused:
        return ClockDecision(quiet=("the case's clock is paused while it awaits records",))
    due = clock.due_at
    window_opens = due - remind_before
    hours = f"{remind_before.total_seconds() / 3600:g} h"
    if now < window_opens:
        return ClockDecision(quiet=(f"more than {hours} before due",))
    if now < due:
        if clock.reminded_before_due_for == due:
            return ClockDecision(quiet=("already reminded before this due time",))
        if clock.assigned_at >= window_opens:
            # Assigned inside the window (a late re-route): the offer itself named the
            # due time moments ago, so a reminder would only repeat it.
            step = Step(
                Action.REMIND_BEFORE_DUE,
                f"assigned within {hours} of due: the offer named the due time",
                send=False,
            )
            return ClockDecision(steps=(step,))
        return ClockDecision(steps=(Step(Action.REMIND_BEFORE_DUE, f"due within {hours}"),))

    steps: list[Step] = []
    quiet: list[str] = []
    # Overdue means past due, as on every page (Assignment.is_overdue).
    escalate = now > due and not escalated_for(clock)
    reassign = escalate and clock.auto_reassign
    if clock.reminded_at_due_for == due:
        quiet.append("already reminded at this due time")
    elif reassign:
        # The reviewer is told the assignment moved instead; if nobody else is
        # eligible it stays, and the at-due reminder goes at the next tick.
        quiet.append("the assignment moves to another reviewer: no reminder to this one")
    else:
        steps.append(Step(Action.REMIND_AT_DUE, "the review is due"))
    if escalate:
        why = "past due: the coordinator is told"
        if reassign:
            why += ", and the case's auto-reassign moves it to the next eligible reviewer"
        steps.append(Step(Action.ESCALATE, why))
    elif now > due:
        quiet.append("the coordinator was already told it is overdue")
    return ClockDecision(steps=tuple(steps), quiet=tuple(quiet), reassign=reassign)
