"""The review clock from a table: which reminder or escalation is due at each moment."""

from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path

import pytest

from board.reviews.clock import Action, AssignmentClock, decide

A = Action
DUE = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)
ASSIGNED = DUE - dt.timedelta(days=7)
HOUR = dt.timedelta(hours=1)
WINDOW = dt.timedelta(hours=48)
MOVED = DUE + dt.timedelta(days=2)  # the due date after a two-day pause


def clock(**kwargs: object) -> AssignmentClock:
    return AssignmentClock(**{"due_at": DUE, "assigned_at": ASSIGNED, **kwargs})  # type: ignore[arg-type]


TABLE = [
    ("before the 48 h window", clock(), DUE - WINDOW - HOUR, ()),
    ("the window opens", clock(), DUE - WINDOW, (A.REMIND_BEFORE_DUE,)),
    ("inside the window", clock(), DUE - HOUR, (A.REMIND_BEFORE_DUE,)),
    (
        "inside the window, already reminded",
        clock(reminded_before_due_for=DUE),
        DUE - HOUR,
        (),
    ),
    ("at due", clock(reminded_before_due_for=DUE), DUE, (A.REMIND_AT_DUE,)),
    (
        "at due, never reminded before (the beat was down)",
        clock(),
        DUE,
        (A.REMIND_AT_DUE,),
    ),
    (
        "past due: reminded at due and escalated at once",
        clock(),
        DUE + HOUR,
        (A.REMIND_AT_DUE, A.ESCALATE),
    ),
    (
        "past due, reminded at due",
        clock(reminded_at_due_for=DUE),
        DUE + HOUR,
        (A.ESCALATE,),
    ),
    (
        "past due, reminded and escalated",
        clock(reminded_at_due_for=DUE, escalated_at=DUE + HOUR),
        DUE + 2 * HOUR,
        (),
    ),
    ("paused inside the window", clock(paused=True), DUE - HOUR, ()),
    ("paused past due", clock(paused=True), DUE + HOUR, ()),
    ("completed", clock(is_open=False), DUE - HOUR, ()),
    ("declined or reassigned, past due", clock(is_open=False), DUE + HOUR, ()),
    ("the case was withdrawn", clock(case_in_review=False), DUE + HOUR, ()),
    (
        "the due date moved later after both reminders: a new one before it",
        clock(reminded_before_due_for=DUE, reminded_at_due_for=DUE, due_at=MOVED),
        MOVED - HOUR,
        (A.REMIND_BEFORE_DUE,),
    ),
    (
        "the due date moved later after escalation: new reminder and escalation",
        clock(
            reminded_before_due_for=DUE,
            reminded_at_due_for=DUE,
            escalated_at=DUE + HOUR,
            due_at=MOVED,
        ),
        MOVED + HOUR,
        (A.REMIND_AT_DUE, A.ESCALATE),
    ),
    (
        "the due date moved, but not past the escalation: still escalated",
        clock(reminded_at_due_for=DUE, escalated_at=DUE + 3 * HOUR, due_at=DUE + HOUR),
        DUE + 4 * HOUR,
        (A.REMIND_AT_DUE,),
    ),
    (
        "past due with auto-reassign: escalate and move, no reminder to the leaver",
        clock(auto_reassign=True),
        DUE + HOUR,
        (A.ESCALATE,),
    ),
    (
        "auto-reassign found nobody: the assignment stayed, so its at-due reminder goes",
        clock(auto_reassign=True, escalated_at=DUE + HOUR),
        DUE + 2 * HOUR,
        (A.REMIND_AT_DUE,),
    ),
]


@pytest.mark.parametrize(
    ("facts", "now", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_the_clock_says_what_is_due_at_each_moment(facts, now, expected):
    decision = decide(facts, now, remind_before=WINDOW)
    assert decision.actions == expected, decision.reasons
    assert decision.reasons, "every decision says why"


def test_the_due_date_alone_moving_later_earns_its_own_reminder_before_due():
    # One assignment, two due dates: reminded for the first, asked again for the second.
    first = decide(clock(), DUE - HOUR, remind_before=WINDOW)
    assert first.actions == (A.REMIND_BEFORE_DUE,)
    moved = clock(reminded_before_due_for=DUE, due_at=MOVED)
    assert decide(moved, MOVED - HOUR, remind_before=WINDOW).actions == (A.REMIND_BEFORE_DUE,)
    assert decide(moved, DUE - HOUR, remind_before=WINDOW).actions == ()


def test_an_assignment_made_inside_the_window_is_settled_without_a_reminder():
    late = clock(assigned_at=DUE - 3 * HOUR)
    decision = decide(late, DUE - 2 * HOUR, remind_before=WINDOW)
    (step,) = decision.steps
    assert step.action is A.REMIND_BEFORE_DUE and step.send is False
    assert "the offer named the due time" in step.reason
    at_due = decide(late, DUE, remind_before=WINDOW)
    assert [(s.action, s.send) for s in at_due.steps] == [(A.REMIND_AT_DUE, True)]


def test_only_an_escalation_with_auto_reassign_asks_to_move_the_assignment():
    assert decide(clock(auto_reassign=True), DUE + HOUR, remind_before=WINDOW).reassign is True
    assert decide(clock(), DUE + HOUR, remind_before=WINDOW).reassign is False
    escalated = clock(auto_reassign=True, escalated_at=DUE + HOUR)
    assert decide(escalated, DUE + 2 * HOUR, remind_before=WINDOW).reassign is False
    # Exactly at due it is not yet overdue: the reviewer gets the at-due reminder first.
    at_due = decide(clock(auto_reassign=True), DUE, remind_before=WINDOW)
    assert at_due.actions == (A.REMIND_AT_DUE,) and at_due.reassign is False


def test_the_window_follows_the_configured_hours():
    short = dt.timedelta(seconds=7)
    assert decide(clock(), DUE - dt.timedelta(seconds=8), remind_before=short).actions == ()
    assert decide(clock(), DUE - dt.timedelta(seconds=6), remind_before=short).actions == (
        A.REMIND_BEFORE_DUE,
    )


def test_the_clock_rule_imports_no_framework():
    source = Path(__file__).resolve().parents[2] / "board" / "reviews" / "clock.py"
    tree = ast.parse(source.read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {"__future__", "datetime", "enum", "dataclasses"}
