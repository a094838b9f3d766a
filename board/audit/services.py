"""Audit trail: every read and change of patient data leaves one row.

`record()` never commits and never touches the database: it keeps the row with the
caller's session, and the row is written by that session's commit, in the same
transaction as the change it describes, or not at all (a rollback forgets it).
Reads are recorded by `record_read()`: in a GET request the row is committed with the
response, after the page's other reads (one transaction, one connection), elsewhere at
once.

The rows are written with one INSERT just before COMMIT, and nothing else: no lock, no
read of the chain. The hash chain (board/audit/chain.py) is built after the commit by
`chain_pending()`, which the chainer thread of every Celery worker runs about once a
second (workers/bookkeeping.py; one chainer at a time, through an advisory lock). It
links the rows of finished transactions in (tx, id) order: on PostgreSQL a row's `tx` is
its transaction's id, and the chainer takes only rows whose transaction is older than
the oldest one still running (pg_snapshot_xmin), so a row it has passed can never turn
up later. Until a row is linked (normally within a second or two; longer while no
worker runs) only the append-only trigger protects it; `flask audit verify` counts such
rows and says how old the oldest is.

Chaining at commit time (as e6auditchain01 did) held one advisory lock from the head
read to the end of the COMMIT of every audited transaction: every request of every web
and worker node queued on it (bench/README.md has the figures).

A read's commit writes nothing but its audit rows, so it keeps what the request loaded:
after the audited commit of a GET (or HEAD) request whose transaction flushed or executed
nothing else, the session does not expire its objects. Expiring them made every page that
lists rows read each row again, one SELECT per row per attribute (the coordinator's
dashboard: one query per case after `case_list`'s commit). Any other commit still expires
everything (SQLAlchemy's default), so a change is always read back from the database.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flask import (
    Flask,
    Response,
    current_app,
    g,
    has_app_context,
    has_request_context,
    request,
)
from flask_login import current_user
from sqlalchemy import Connection, event, func, insert, literal, select, text, tuple_
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from board.audit import chain
from board.audit.models import AuditEvent, AuditLink
from board.auth.models import User
from board.db import utcnow
from board.extensions import db

log = logging.getLogger(__name__)

# pg_advisory_xact_lock key of the chainer ("audit" in ASCII): one chainer at a time.
CHAIN_LOCK_KEY = 0x6175646974
# How many rows one chaining transaction links at most.
CHAIN_BATCH = 5000
_events = AuditEvent.__table__
_links = AuditLink.__table__
_PENDING = "audit_pending"
# Set when the transaction flushed or executed anything but audit rows and SELECTs.
_WROTE = "audit_other_writes"
_KEEP_LOADED = "audit_keep_loaded"

# A request id from the proxy (X-Request-ID) is kept only if it looks like one:
# anything else (too long, spaces, control or non-ASCII characters) is replaced by
# our own, so a client cannot write arbitrary text into the trail.
REQUEST_ID_HEADER = "X-Request-ID"
_WELL_FORMED_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{7,63}$")


def well_formed_request_id(value: str | None) -> bool:
    return bool(value) and _WELL_FORMED_ID.fullmatch(value or "") is not None


def request_id() -> str | None:
    """The id of this request (or Celery task, or CLI command): one per request."""
    if has_request_context():
        if "request_id" not in g:
            incoming = request.headers.get(REQUEST_ID_HEADER)
            g.request_id = incoming if well_formed_request_id(incoming) else uuid.uuid4().hex
        return str(g.request_id)
    from celery import current_task

    task = current_task._get_current_object() if current_task else None
    if task is not None and task.request.id:
        return str(task.request.id)
    if has_app_context():
        if "request_id" not in g:
            g.request_id = uuid.uuid4().hex
        return str(g.request_id)
    return None


def init_app(app: Flask) -> None:
    init_request_ids(app)
    # Registered after the request ids: after_request runs in reverse order, so the
    # reads are committed first and the response (a 500 too) still gets its id.
    app.after_request(commit_reads)


def init_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        request_id()

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        rid = request_id()
        if rid:
            response.headers[REQUEST_ID_HEADER] = rid
        return response


def record(
    action: str,
    *,
    actor: User | None = None,
    case_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
    severity: str | None = None,
) -> None:
    """Keeps one audit row with the caller's session; its commit writes it."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()  # type: ignore[attr-defined]
    row = {
        "at": utcnow(),
        "actor_id": actor.id if actor else None,
        "actor_role": actor.role if actor else None,
        "action": action,
        "case_id": case_id,
        "object_type": object_type,
        "object_id": object_id,
        "outcome": outcome,
        "source_ip": request.remote_addr if has_request_context() else None,
        "request_id": request_id(),
        "detail": chain.check_detail(detail),
        "severity": severity,
    }
    session = db.session()
    if not session.in_transaction():
        session.begin()  # the row belongs to this transaction: its rollback forgets it
    session.info.setdefault(_PENDING, []).append(row)


def record_read(action: str, **kwargs: Any) -> None:
    """The row of a successful read. In a GET or HEAD request it is committed with the
    response (commit_reads, just before the answer leaves): the request's reads and
    their rows in one transaction on one connection, and nothing shown whose read is
    not recorded. Anywhere else (a POST that re-shows a page, a task) at once."""
    record(action, **kwargs)
    if has_request_context() and request.method in ("GET", "HEAD"):
        return
    db.session.commit()


def commit_reads(response: Response) -> Response:
    """after_request: commits the read rows record_read() left for the response. If that
    commit fails the page is not sent: a 500 takes its place."""
    if not db.session().info.get(_PENDING):
        return response
    try:
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("the audit rows of a read could not be written; the answer is withheld")
        from board.errors import error_response

        failed: Response = current_app.make_response(
            error_response(500, "The board could not record this read; try again")
        )
        return failed
    return response


@event.listens_for(Session, "before_commit")
def _write_pending_rows(session: Session) -> None:
    pending: list[dict[str, Any]] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    session.flush()  # everything else first, so the read below is right
    if (
        not session.info.get(_WROTE)
        and has_request_context()
        and request.method in ("GET", "HEAD")
        and session.expire_on_commit
    ):
        # A read: its commit writes only the rows below, so what it loaded stays valid.
        session.expire_on_commit = False
        session.info[_KEEP_LOADED] = True
    # One INSERT for the lot, on the session's connection: a Core statement, so it is
    # neither an ORM flush nor an ORM write (it must not count as one above).
    session.connection().execute(insert(_events), pending)


@event.listens_for(Session, "after_flush")
def _note_other_writes(session: Session, flush_context: Any) -> None:
    # Still the pre-flush lists here: anything but audit rows makes it a write.
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not isinstance(obj, AuditEvent):
            session.info[_WROTE] = True
            return


@event.listens_for(Session, "do_orm_execute")
def _note_statement_writes(state: ORMExecuteState) -> None:
    if not state.is_select:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _forget_pending_rows(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
        session.info.pop(_WROTE, None)
        if session.info.pop(_KEEP_LOADED, False):
            session.expire_on_commit = True


# --- The chain -----------------------------------------------------------------------


def _take_chain(conn: Connection) -> bool:
    """One chainer at a time. PostgreSQL: the advisory lock, or False at once when another
    chainer holds it. SQLite: its write lock (a write that touches nothing), which also
    makes the head read below current; waits for it like any writer."""
    if conn.dialect.name == "postgresql":
        return bool(
            conn.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": CHAIN_LOCK_KEY})
        )
    conn.execute(text("DELETE FROM audit_chain WHERE 0"))
    return True


def _horizon(conn: Connection) -> int | None:
    """Rows of transactions with an id below this are final: every such transaction has
    committed or aborted (pg_snapshot_xmin: the oldest transaction still running). None
    on SQLite, whose one writer at a time commits rows in id order."""
    if conn.dialect.name != "postgresql":
        return None
    return int(conn.scalar(text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")))


def _after(position: tuple[int, int]) -> Any:
    """The (tx, id) pair as a row value to compare the events' (tx, id) with."""
    return tuple_(literal(position[0]), literal(position[1]))


def _head(conn: Connection) -> tuple[int, str, tuple[int, int]]:
    """The last row of the chain: its number, its hash and its event's (tx, id)."""
    found = conn.execute(
        select(_links.c.seq, _links.c.row_hash, _events.c.tx, _events.c.id)
        .join(_events, _events.c.id == _links.c.event_id)
        .order_by(_links.c.seq.desc())
        .limit(1)
    ).first()
    if found is None:
        return 0, chain.GENESIS, (-1, 0)
    return found.seq, found.row_hash, (found.tx, found.id)


_EVENT_FIELDS = [_events.c[name] for name in chain.FIELDS if name != "prev_hash"]


def chain_pending(batch: int = CHAIN_BATCH) -> int:
    """Links the committed audit rows that follow the chain's last row, oldest
    transaction first, at most `batch` of them, in a transaction of its own; returns how
    many. 0 when there is nothing to link or another chainer is at work."""
    with db.engine.begin() as conn:
        if not _take_chain(conn):
            return 0
        horizon = _horizon(conn)
        head_seq, head_hash, after = _head(conn)
        query = (
            select(*_EVENT_FIELDS)
            .where(tuple_(_events.c.tx, _events.c.id) > _after(after))
            .order_by(_events.c.tx, _events.c.id)
            .limit(batch)
        )
        if horizon is not None:
            query = query.where(_events.c.tx < horizon)
        events = conn.execute(query).mappings().all()
        links = chain.extend(head_seq, head_hash, [dict(event) for event in events])
        if links:
            conn.execute(insert(_links), [link.__dict__ for link in links])
        return len(links)


def chain_all() -> int:
    """Links every row that can be linked now (`flask audit chain`, tests)."""
    total = 0
    while True:
        done = chain_pending()
        total += done
        if done < CHAIN_BATCH:
            return total


# --- Verification ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """Committed rows not linked yet (the chainer has not reached them)."""

    rows: int
    oldest_at: dt.datetime | None


def _chain_rows(batch: int = 2000) -> Iterator[dict[str, Any]]:
    result = db.session.execute(
        select(_links.c.seq, _links.c.event_id, _links.c.prev_hash, _links.c.row_hash)
        .add_columns(*(c for c in _EVENT_FIELDS))
        .select_from(_links.outerjoin(_events, _events.c.id == _links.c.event_id))
        .order_by(_links.c.seq)
        .execution_options(yield_per=batch)
    )
    for row in result:
        yield dict(row._mapping)


def _unlinked(verdict: chain.Verdict) -> tuple[chain.Verdict, Pending]:
    """The events no row of the chain names. Those after the chain's last event are
    waiting for the chainer; one before it was never chained by the application: it
    was added behind its back (the chainer never skips a finished row)."""
    head_seq, _, after = _head(db.session.connection())
    unlinked = (
        select(_events.c.id, _events.c.at)
        .select_from(_events.outerjoin(_links, _links.c.event_id == _events.c.id))
        .where(_links.c.event_id.is_(None))
    )
    position = tuple_(_events.c.tx, _events.c.id)
    slipped_in = db.session.execute(
        unlinked.where(position <= _after(after)).order_by(_events.c.tx, _events.c.id).limit(1)
    ).first()
    if slipped_in is not None and verdict.broken is None:
        reason = (
            f"audit event {slipped_in.id} is in no row of the chain, though later events "
            "are: it was added behind the application's back"
        )
        broken = chain.Broken(head_seq, reason)
        verdict = chain.Verdict(verdict.rows, None, verdict.head_hash, broken)
    waiting = unlinked.where(position > _after(after)).subquery()
    count, oldest = db.session.execute(select(func.count(), func.min(waiting.c.at))).one()
    return verdict, Pending(int(count), oldest)


def verify() -> tuple[chain.Verdict, Pending]:
    """Checks the whole chain, first row first (see board/audit/chain.py), and every
    event against it; also counts the rows the chainer has not linked yet."""
    try:
        return _unlinked(chain.verify(_chain_rows()))
    finally:
        db.session.rollback()
