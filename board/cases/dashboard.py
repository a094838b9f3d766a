"""What the coordinator's dashboard shows beside its list of cases, in one statement
(board/json_read.py): how many cases are in each status (board/cases/status_counts.py)
and how many are overdue, the newest unroutable cases, the next meetings with the size
of their agenda, and the oldest follow-up questions waiting for an answer with how many
wait in all. Five small indexed reads that cost five round trips asked one by one.

Nothing here is a patient's data (case numbers, statuses, times, counts, routing notes
that name specialties); the page's read is audited once, with its list (case_list).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import TextClause

from board import json_read
from board.cases.models import OVERDUE_STATES, case_is_overdue
from board.cases.rules import CaseStatus
from board.db import utcnow
from board.extensions import db

UNROUTABLE_SHOWN = 10
# Counted up to here: a backlog beyond it reads "1000 or more" (the status tabs count
# exactly), so a board that falls far behind does not make its dashboard slower.
COUNT_CAP = 1000
# A meeting's agenda counted up to here: a tumor board discusses tens of cases a meeting.
AGENDA_CAP = 100
MEETINGS_SHOWN = 5
FOLLOW_UPS_SHOWN = 10
# A meeting under way is still "upcoming" for the coordinator running it.
MEETING_UNDER_WAY = dt.timedelta(hours=12)


@dataclass(frozen=True)
class Unroutable:
    id: int
    status: str
    timepoint: str
    routing_note: str | None
    due_at: dt.datetime | None
    paused_at: dt.datetime | None

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return case_is_overdue(self.status, self.due_at, self.paused_at, now)


@dataclass(frozen=True)
class Upcoming:
    id: int
    starts_at: dt.datetime
    place: str | None
    on_agenda: int


@dataclass(frozen=True)
class Waiting:
    id: int
    case_id: int
    asked_at: dt.datetime


@dataclass(frozen=True)
class Widgets:
    counts: dict[str, int]  # cases per status (statuses with none left out)
    overdue: int  # up to COUNT_CAP
    unroutable: list[Unroutable]  # the newest UNROUTABLE_SHOWN
    meetings: list[Upcoming]  # the next MEETINGS_SHOWN scheduled (agendas up to AGENDA_CAP)
    follow_ups: list[Waiting]  # the oldest FOLLOW_UPS_SHOWN waiting for an answer
    follow_ups_waiting: int  # how many wait in all, up to COUNT_CAP

    @property
    def count_cap(self) -> int:
        return COUNT_CAP

    @property
    def agenda_cap(self) -> int:
        return AGENDA_CAP

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def unroutable_count(self) -> int:
        return self.counts.get(CaseStatus.UNROUTABLE.value, 0)


F = json_read.Field
_RUNNING = ", ".join(f"'{s.value}'" for s in OVERDUE_STATES)
_PARTS = (
    json_read.Part(
        "counts",
        "(SELECT status, sum(n) AS n FROM case_status_counts GROUP BY status) sc",
        "sc.n <> 0",
        (F("status", "sc.status"), F("n", "sc.n")),
    ),
    json_read.Part(
        # Through the partial index of running clocks (migration e9statuscounts01).
        "overdue",
        "(SELECT 1 FROM cases oc WHERE oc.paused_at IS NULL "
        f"AND oc.status IN ({_RUNNING}) AND oc.due_at < :now LIMIT :cap) o",
        "TRUE",
        (F("n", "count(*)"),),
    ),
    json_read.Part(
        "unroutable",
        "cases uc",
        f"uc.status = '{CaseStatus.UNROUTABLE.value}'",
        (
            F("id", "uc.id"),
            F("status", "uc.status"),
            F("timepoint", "uc.timepoint"),
            F("routing_note", "uc.routing_note"),
            F("due_at", "uc.due_at"),
            F("paused_at", "uc.paused_at"),
        ),
        "uc.id DESC",
        UNROUTABLE_SHOWN,
    ),
    json_read.Part(
        "meetings",
        "meetings m",
        "m.status = 'scheduled' AND m.starts_at >= :since",
        (
            F("id", "m.id"),
            F("starts_at", "m.starts_at"),
            F("place", "m.place"),
            # Up to AGENDA_CAP, through the (meeting_id) index alone.
            F(
                "on_agenda",
                "(SELECT count(*) FROM (SELECT 1 FROM agenda_items ai "
                "WHERE ai.meeting_id = m.id LIMIT :agenda_cap) aic)",
            ),
        ),
        "m.starts_at, m.id",
        MEETINGS_SHOWN,
    ),
    json_read.Part(
        # Through the partial index of unanswered questions (asked_at, id).
        "follow_ups",
        "follow_up_questions q",
        "q.answer IS NULL",
        (F("id", "q.id"), F("case_id", "q.case_id"), F("asked_at", "q.asked_at")),
        "q.asked_at, q.id",
        FOLLOW_UPS_SHOWN,
    ),
    json_read.Part(
        "follow_ups_waiting",
        "(SELECT 1 FROM follow_up_questions wq WHERE wq.answer IS NULL LIMIT :cap) w",
        "TRUE",
        (F("n", "count(*)"),),
    ),
)


@cache
def _statement(dialect: str) -> TextClause:
    return json_read.statement(dialect, _PARTS)


def widgets(now: dt.datetime | None = None) -> Widgets:
    """Everything beside the dashboard's list, read in one statement. The caller is a
    coordinator (the view checks the role) and audits the page's read."""
    now = now or utcnow()
    bind = db.session.get_bind()
    # SQLite compares its naive UTC text; PostgreSQL its timestamptz.
    times = {"now": now, "since": now - MEETING_UNDER_WAY}
    if bind.dialect.name != "postgresql":
        times = {k: v.astimezone(dt.UTC).replace(tzinfo=None) for k, v in times.items()}
    values: dict[str, Any] = {**times, "cap": COUNT_CAP, "agenda_cap": AGENDA_CAP}
    row = db.session.execute(_statement(bind.dialect.name), values).one()
    rows = json_read.rows
    return Widgets(
        counts={r["status"]: int(r["n"]) for r in rows(row.counts)},
        overdue=int(rows(row.overdue)[0]["n"]),
        unroutable=[
            Unroutable(
                u["id"],
                u["status"],
                u["timepoint"],
                u["routing_note"],
                json_read.time(u["due_at"]),
                json_read.time(u["paused_at"]),
            )
            for u in rows(row.unroutable)
        ],
        meetings=[
            Upcoming(m["id"], json_read.at(m["starts_at"]), m["place"], int(m["on_agenda"]))
            for m in rows(row.meetings)
        ],
        follow_ups=[
            Waiting(q["id"], q["case_id"], json_read.at(q["asked_at"]))
            for q in rows(row.follow_ups)
        ],
        follow_ups_waiting=int(rows(row.follow_ups_waiting)[0]["n"]),
    )
