from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import event, select, text, update
from sqlalchemy.orm import Session

from board.db import utcnow
from board.extensions import db
from board.outbox.models import OutboxMessage, OutboxStatus

log = logging.getLogger(__name__)


def enqueue(task: str, **ids: int) -> OutboxMessage:
    """Adds a message to the caller's transaction. Arguments are ids, never patient data."""
    for key, value in ids.items():
        if not isinstance(value, int):
            raise TypeError(f"outbox argument {key} must be an id, got {type(value).__name__}")
    now = utcnow()
    available_at = now
    if current_app.config["OUTBOX_PUBLISH_ON_COMMIT"]:
        # The committing process publishes at once; the relay waits a moment before
        # stepping in, so a healthy publish is not doubled by the relay.
        available_at = now + dt.timedelta(seconds=current_app.config["OUTBOX_RELAY_GRACE_SECONDS"])
    message = OutboxMessage(task=task, payload=dict(ids), created_at=now, available_at=available_at)
    db.session.add(message)
    return message


def _publish(message_id: int, task: str, payload: dict[str, Any]) -> None:
    celery = current_app.extensions["celery"]
    celery.send_task(task, kwargs={**payload, "outbox_id": message_id}, retry=False)


@dataclass(frozen=True)
class _Flushed:
    id: int
    task: str
    payload: dict[str, Any]


_SESSION_KEY = "outbox_flushed"


@event.listens_for(Session, "after_flush")
def _remember_new_messages(session: Session, flush_context: Any) -> None:
    # Ids exist from the flush on; after the commit the objects are expired and
    # must not be touched, so the facts are kept here.
    flushed = session.info.setdefault(_SESSION_KEY, [])
    for obj in session.new:
        if isinstance(obj, OutboxMessage):
            flushed.append(_Flushed(obj.id, obj.task, dict(obj.payload)))


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back_messages(session: Session) -> None:
    session.info.pop(_SESSION_KEY, None)


@event.listens_for(Session, "after_commit")
def _publish_committed_messages(session: Session) -> None:
    """Tasks are sent only after their state change is committed, never before."""
    flushed: list[_Flushed] = session.info.pop(_SESSION_KEY, [])
    if flushed and has_app_context() and current_app.config["OUTBOX_PUBLISH_ON_COMMIT"]:
        publish_now(flushed)


def publish_now(messages: list[_Flushed]) -> None:
    """Best-effort publish right after the commit, for latency. Never raises: if
    the broker is down the messages stay pending and the relay sends them later."""
    published = []
    for message in messages:
        try:
            _publish(message.id, message.task, message.payload)
        except Exception as exc:  # broker down or slow: the relay will retry
            log.warning("outbox %s not published now (%s); the relay will", message.id, exc)
            break
        published.append(message.id)
    if published:
        # A connection of its own: the session that just committed is mid-event.
        with db.engine.begin() as conn:
            conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(published), OutboxMessage.status == OutboxStatus.PENDING
                )
                .values(status=OutboxStatus.PUBLISHED, published_at=utcnow())
            )


def relay_once(batch: int = 100) -> int:
    """Publishes pending messages. Rows are locked with SKIP LOCKED so several
    relays (one per worker) never publish the same row at the same time."""
    rows = db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.PENDING, OutboxMessage.available_at <= utcnow())
        .order_by(OutboxMessage.id)
        .limit(batch)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for row in rows:
        try:
            _publish(row.id, row.task, row.payload)
        except Exception as exc:
            log.warning("outbox relay: broker unavailable (%s)", exc)
            break
        row.status = OutboxStatus.PUBLISHED
        row.published_at = utcnow()
        sent += 1
    db.session.commit()
    return sent


def sweep_once(older_than: dt.timedelta | None = None) -> int:
    """Returns to pending every message published but not done for too long:
    a killed worker, a lost broker message or a restart of the in-memory broker."""
    if older_than is None:
        older_than = dt.timedelta(seconds=current_app.config["OUTBOX_REDELIVER_AFTER_SECONDS"])
    result = db.session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.status == OutboxStatus.PUBLISHED,
            OutboxMessage.published_at < utcnow() - older_than,
        )
        .values(status=OutboxStatus.PENDING)
    )
    db.session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# Distinguishes the outbox's advisory locks from any other user of pg_advisory_lock.
_LOCK_SPACE = 0x0B0A


@contextmanager
def delivery_lock(message_id: int | None) -> Iterator[bool]:
    """Holds a PostgreSQL session advisory lock on the message while one delivery runs.

    Yields False when another delivery of the same message holds it. The lock lives
    on a connection of its own, not the task's session (which commits several
    times): if the worker dies, PostgreSQL drops the connection and the lock with it,
    so a killed delivery never blocks the next one. SQLite (the embedded mode, one
    worker) has no such locks and needs none.
    """
    if message_id is None or db.engine.dialect.name != "postgresql":
        yield True
        return
    with db.engine.connect() as conn:
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:space, :id)"),
            {"space": _LOCK_SPACE, "id": message_id},
        ).scalar()
        conn.commit()
        try:
            yield bool(got)
        finally:
            if got:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:space, :id)"),
                    {"space": _LOCK_SPACE, "id": message_id},
                )
                conn.commit()


def begin_attempt(message_id: int | None) -> bool:
    """Counts a delivery before the work starts, in its own commit, so a task that
    kills its worker still counts. Returns False when the message must not run:
    already done, or parked after too many attempts."""
    if message_id is None:
        return True
    message = db.session.get(OutboxMessage, message_id, with_for_update=True)
    if message is None:
        db.session.rollback()
        return True
    if message.status in (OutboxStatus.DONE, OutboxStatus.PARKED):
        db.session.rollback()
        return False
    message.attempts += 1
    if message.attempts > current_app.config["OUTBOX_MAX_ATTEMPTS"]:
        message.status = OutboxStatus.PARKED
        message.last_error = f"parked after {message.attempts - 1} deliveries without finishing"
        _tell_coordinators_parked(message)
        db.session.commit()
        return False
    db.session.commit()
    return True


def mark_done(message_id: int | None) -> None:
    """Called inside the task's own transaction, so 'done' commits with the work."""
    if message_id is None:
        return
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id)
        .values(status=OutboxStatus.DONE, done_at=utcnow())
    )


def _tell_coordinators_parked(message: OutboxMessage) -> None:
    from board.notifications import keys
    from board.notifications.services import notify_coordinators

    case_id = message.payload.get("case_id")
    notify_coordinators(
        kind="task_parked",
        case_id=case_id if isinstance(case_id, int) else None,
        key=keys.task_parked(message.id),
        message=f"Background task {message.task} (message {message.id}) kept failing and was "
        "parked; routing or notification for this case needs a look.",
    )


def release_attempt(message_id: int | None, error: str) -> None:
    """Gives back an attempt that failed for a transient reason (see workers.tasks)."""
    db.session.rollback()
    if message_id is None:
        return
    db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.attempts > 0)
        .values(attempts=OutboxMessage.attempts - 1, last_error=error[:2000])
    )
    db.session.commit()
