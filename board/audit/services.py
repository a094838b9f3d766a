"""Audit trail: every read and change of patient data leaves one row.

`record()` never commits and never touches the database: it keeps the row with the
caller's session, and the row is written by that session's commit, in the same
transaction as the change it describes, or not at all (a rollback forgets it).
Reads are recorded by `record_read()`, which commits its own row.

The hash chain (board/audit/chain.py) is assigned at commit, in commit order:
just before COMMIT the session takes the chain lock, reads the last row's id and
hash, numbers and hashes its own rows, inserts them and commits, which releases
the lock. The lock is held only for that read, one INSERT and the COMMIT, never
for the service's own work (which is flushed before the lock is taken), so
concurrent requests queue for a few milliseconds at most. Taking the lock inside
record() instead would hold it from the first audited step to the end of every
transaction, and chaining after the commit (a background chainer) would leave
rows unprotected for a while. On PostgreSQL the lock is a transaction-level
advisory lock, taken with the head read in one round trip (audit_chain_head());
on SQLite (the embedded mode) the database's single write lock.

The price is that audited commits are serialised for about one INSERT and one
COMMIT each: bench/audit.py measures it (bench/README.md has the figures).

A read's commit writes nothing but its audit rows, so it keeps what the request loaded:
after the audited commit of a GET (or HEAD) request whose transaction flushed or executed
nothing else, the session does not expire its objects. Expiring them made every page that
lists rows read each row again, one SELECT per row per attribute (the coordinator's
dashboard: one query per case after `case_list`'s commit). Any other commit still expires
everything (SQLAlchemy's default), so a change is always read back from the database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Flask, Response, g, has_app_context, has_request_context, request
from flask_login import current_user
from sqlalchemy import event, select, text
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from board.audit import chain
from board.audit.models import AuditEvent
from board.auth.models import User
from board.db import utcnow
from board.extensions import db

# pg_advisory_xact_lock key of the chain ("audit" in ASCII); nothing else uses it.
CHAIN_LOCK_KEY = 0x6175646974
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
) -> AuditEvent:
    """Keeps one audit row with the caller's session; its commit writes it."""
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()  # type: ignore[attr-defined]
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor else None,
        actor_role=actor.role if actor else None,
        action=action,
        case_id=case_id,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        source_ip=request.remote_addr if has_request_context() else None,
        request_id=request_id(),
        detail=chain.check_detail(detail),
        severity=severity,
    )
    session = db.session()
    if not session.in_transaction():
        session.begin()  # the row belongs to this transaction: its rollback forgets it
    session.info.setdefault(_PENDING, []).append(event)
    return event


def record_read(action: str, **kwargs: Any) -> None:
    record(action, **kwargs)
    db.session.commit()


@event.listens_for(Session, "before_commit")
def _chain_pending_rows(session: Session) -> None:
    pending: list[AuditEvent] | None = session.info.pop(_PENDING, None)
    if not pending:
        return
    # Everything else first: the lock below is then held only for the audit rows.
    session.flush()
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        # pg_advisory_xact_lock(CHAIN_LOCK_KEY), then the last row, in one round trip
        # (the function is in the migration e6auditchain01).
        head = conn.execute(text("SELECT last_id, last_hash FROM audit_chain_head()")).one()
        last_id, last_hash = head.last_id, head.last_hash
    else:
        # SQLite: a write statement takes the database's write lock (one writer at a
        # time, held to COMMIT), so the head read next cannot be stale. It matches
        # no row, and the append-only trigger fires per row, so nothing happens.
        conn.execute(text("DELETE FROM audit_events WHERE 0"))
        last_id, last_hash = conn.execute(
            select(AuditEvent.id, AuditEvent.row_hash).order_by(AuditEvent.id.desc()).limit(1)
        ).first() or (None, None)
    if (
        not session.info.get(_WROTE)
        and has_request_context()
        and request.method in ("GET", "HEAD")
        and session.expire_on_commit
    ):
        # A read: its commit writes only the rows below, so what it loaded stays valid.
        session.expire_on_commit = False
        session.info[_KEEP_LOADED] = True
    next_id, prev_hash = (last_id + 1, last_hash) if last_id else (1, chain.GENESIS)
    for row in pending:
        row.id, row.prev_hash = next_id, prev_hash
        row.row_hash = chain.row_hash(row.as_chain_row())
        prev_hash, next_id = row.row_hash, next_id + 1
        session.add(row)
    # Session.commit flushes once more after this hook: that INSERT is the audit rows.


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


# --- Verification ----------------------------------------------------------------------


def _chain_rows(batch: int = 2000) -> Iterator[dict[str, Any]]:
    columns = [getattr(AuditEvent, name) for name in (*chain.FIELDS, "row_hash")]
    result = db.session.execute(
        select(*columns).order_by(AuditEvent.id).execution_options(yield_per=batch)
    )
    for row in result:
        yield dict(row._mapping)


def verify() -> chain.Verdict:
    """Checks the whole chain, oldest row first (see board/audit/chain.py)."""
    try:
        return chain.verify(_chain_rows())
    finally:
        db.session.rollback()
