"""The audit trail as coordinators and administrators read it: one case's rows or one
person's, newest first, filtered by period and action, a page at a time (keyset on
the id, served by the (case_id, id) and (actor_id, id) indexes), and as CSV.

The rows hold ids, roles and actions, never a patient's name, so an administrator
(accounts, no clinical content) may read them too. Reading and exporting the trail
are audited like any other read."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select

from board.audit import actions
from board.audit import services as audit
from board.audit.chain import FIELDS
from board.audit.models import AuditEvent, AuditLink
from board.audit.schemas import TrailFilterInput
from board.auth.models import User
from board.auth.roles import Role
from board.cases.models import Case
from board.errors import NotFound
from board.extensions import db
from board.validation import parse

PAGE_SIZE = 50
TRAIL_READERS = frozenset({Role.COORDINATOR, Role.ADMIN})


@dataclass(frozen=True)
class Scope:
    """Whose trail: one case's, or one person's (as the actor)."""

    case_id: int | None = None
    user_id: int | None = None

    def where(self, query: Select[Any]) -> Select[Any]:
        if self.case_id is not None:
            return query.where(AuditEvent.case_id == self.case_id)
        return query.where(AuditEvent.actor_id == self.user_id)


@dataclass(frozen=True)
class TrailRow:
    event: AuditEvent
    actor_name: str | None


@dataclass(frozen=True)
class TrailPage:
    rows: list[TrailRow]
    # The id to ask for the next (older) page with, if there is one.
    next_before: int | None
    subject: str


def parse_filters(args: Mapping[str, str]) -> TrailFilterInput:
    return parse(TrailFilterInput, {k: v for k, v in args.items() if v and v.strip()})


def _reader(viewer: User) -> None:
    if Role(viewer.role) not in TRAIL_READERS:
        raise NotFound()


def _subject(scope: Scope) -> str:
    if scope.case_id is not None:
        if db.session.get(Case, scope.case_id) is None:
            raise NotFound()
        return f"Case #{scope.case_id}"
    person = db.session.get(User, scope.user_id)
    if person is None:
        raise NotFound()
    return f"{person.name} ({person.email})"


def _query(scope: Scope, filters: TrailFilterInput) -> Select[Any]:
    query = scope.where(
        select(AuditEvent, User.name).outerjoin(User, User.id == AuditEvent.actor_id)
    )
    if filters.since:
        start = dt.datetime.combine(filters.since, dt.time(), tzinfo=dt.UTC)
        query = query.where(AuditEvent.at >= start)
    if filters.until:
        end = dt.datetime.combine(filters.until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
        query = query.where(AuditEvent.at < end)
    if filters.action:
        query = query.where(AuditEvent.action == filters.action)
    return query.order_by(AuditEvent.id.desc())


def _record(viewer: User, scope: Scope, action: str) -> None:
    if scope.case_id is not None:
        audit.record(
            action, actor=viewer, case_id=scope.case_id, object_type="case", object_id=scope.case_id
        )
    else:
        audit.record(action, actor=viewer, object_type="user", object_id=scope.user_id)
    db.session.commit()


def trail(viewer: User, scope: Scope, filters: TrailFilterInput) -> TrailPage:
    _reader(viewer)
    subject = _subject(scope)
    query = _query(scope, filters)
    if filters.before:
        query = query.where(AuditEvent.id < filters.before)
    found = db.session.execute(query.limit(PAGE_SIZE + 1)).all()
    rows = [TrailRow(event, name) for event, name in found[:PAGE_SIZE]]
    next_before = rows[-1].event.id if len(found) > PAGE_SIZE else None
    # Rows never change: detached, the commit below does not expire them (each would
    # otherwise be read again, one statement per row).
    for row in rows:
        db.session.expunge(row.event)
    _record(viewer, scope, actions.AUDIT_VIEW)
    return TrailPage(rows, next_before, subject)


# The chain's row number and hashes come from the chain (empty for a row the chainer
# has not linked yet: it is seconds old).
CSV_COLUMNS = (*FIELDS[:3], "actor_name", *FIELDS[3:], "row_hash", "chain_row")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    text = str(value)
    # A spreadsheet runs a cell that starts like a formula (CSV injection, OWASP).
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def trail_csv(viewer: User, scope: Scope, filters: TrailFilterInput) -> str:
    """Every row of the selection (no paging), oldest first; the export is audited."""
    _reader(viewer)
    _subject(scope)
    query = (
        _query(scope, filters)
        .add_columns(AuditLink.seq, AuditLink.prev_hash, AuditLink.row_hash)
        .outerjoin(AuditLink, AuditLink.event_id == AuditEvent.id)
        .order_by(None)
        .order_by(AuditEvent.id)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for event, name, seq, prev_hash, digest in db.session.execute(
        query.execution_options(yield_per=1000)
    ):
        values = {
            **{c: getattr(event, c) for c in FIELDS if c != "prev_hash"},
            "actor_name": name,
            "prev_hash": prev_hash,
            "row_hash": digest,
            "chain_row": seq,
        }
        writer.writerow([_cell(values[c]) for c in CSV_COLUMNS])
    _record(viewer, scope, actions.AUDIT_EXPORT)
    return out.getvalue()
