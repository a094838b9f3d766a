"""When a case and an assignment are overdue, from tables: the one rule each that the
ORM models, the lists and the case file all ask (board/cases/models.py
case_is_overdue, board/reviews/models.py assignment_is_overdue)."""

from __future__ import annotations

import datetime as dt

import pytest

from board.cases.models import case_is_overdue
from board.reviews.models import assignment_is_overdue

DUE = dt.datetime(2026, 3, 9, 9, 0, tzinfo=dt.UTC)
BEFORE, AFTER = DUE - dt.timedelta(minutes=1), DUE + dt.timedelta(minutes=1)
PAUSED = DUE - dt.timedelta(days=1)

CASES = [
    # status, due_at, paused_at, now, overdue
    ("in_review", DUE, None, AFTER, True),
    ("in_review", DUE, None, DUE, False),  # at the due moment itself: not yet
    ("in_review", DUE, None, BEFORE, False),
    ("in_review", DUE, PAUSED, AFTER, False),  # records awaited: the clock stands still
    ("submitted", DUE, None, AFTER, True),
    ("unroutable", DUE, None, AFTER, True),
    ("ready_for_board", DUE, None, AFTER, True),
    ("consensus", DUE, None, AFTER, True),
    ("awaiting_records", DUE, PAUSED, AFTER, False),
    ("draft", None, None, AFTER, False),  # no clock before submission
    ("reported", DUE, None, AFTER, False),  # past the board: cannot run late
    ("acknowledged", DUE, None, AFTER, False),
    ("withdrawn", DUE, None, AFTER, False),
]


@pytest.mark.parametrize(("status", "due_at", "paused_at", "now", "overdue"), CASES)
def test_case_overdue(
    status: str,
    due_at: dt.datetime | None,
    paused_at: dt.datetime | None,
    now: dt.datetime,
    overdue: bool,
) -> None:
    assert case_is_overdue(status, due_at, paused_at, now) is overdue


ASSIGNMENTS = [
    # status, case paused_at, now, overdue
    ("offered", None, AFTER, True),
    ("accepted", None, AFTER, True),
    ("accepted", None, DUE, False),
    ("accepted", None, BEFORE, False),
    ("accepted", PAUSED, AFTER, False),  # the case waits for records a reviewer asked for
    ("offered", PAUSED, AFTER, False),
    ("completed", None, AFTER, False),  # the review is signed: never late
    ("declined", None, AFTER, False),
    ("reassigned", None, AFTER, False),
]


@pytest.mark.parametrize(("status", "case_paused_at", "now", "overdue"), ASSIGNMENTS)
def test_assignment_overdue(
    status: str, case_paused_at: dt.datetime | None, now: dt.datetime, overdue: bool
) -> None:
    assert assignment_is_overdue(status, DUE, case_paused_at, now) is overdue
