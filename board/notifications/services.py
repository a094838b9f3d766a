"""In-app inbox and email. Email goes through the outbox, after the commit."""

from __future__ import annotations

import hashlib
import smtplib
from email.message import EmailMessage
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from board.auth.models import User
from board.auth.roles import Role
from board.db import utcnow
from board.extensions import db
from board.notifications.models import Notification
from board.outbox import services as outbox


def notify(
    user_id: int,
    *,
    kind: str,
    message: str,
    case_id: int | None = None,
    key: str | None = None,
) -> Notification | None:
    """Adds an inbox message and queues its email, in the caller's transaction.

    `key` names the event (board.notifications.keys): a second notification of the
    same person with the same key adds no inbox row and no email, and returns None.
    The insert is ON CONFLICT DO NOTHING, so a concurrent twin (two beats, a
    redelivered task) waits for the first to commit and then adds nothing, instead
    of failing the caller's transaction."""
    if key is None:
        note = Notification(user_id=user_id, case_id=case_id, kind=kind, message=message)
        db.session.add(note)
        db.session.flush()
    else:
        db.session.flush()  # the rows this one refers to (the case) go first
        inserted = db.session.scalar(
            _insert_ignoring_duplicates(
                user_id=user_id,
                case_id=case_id,
                kind=kind,
                key=_fit(key),
                message=message,
                created_at=utcnow(),
            )
        )
        if inserted is None:
            return None
        note = db.session.get_one(Notification, inserted)
    outbox.enqueue("notifications.send_email", notification_id=note.id)
    return note


def _insert_ignoring_duplicates(**values: object) -> Any:
    # Both engines speak ON CONFLICT (SQLite since 3.24), each in its own dialect.
    dialect = db.session.get_bind().dialect.name
    insert = sqlite_insert if dialect == "sqlite" else postgresql_insert
    return (
        insert(Notification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["user_id", "key"])
        .returning(Notification.id)
    )


_KEY_LENGTH = Notification.__table__.c.key.type.length


def _fit(key: str) -> str:
    """A key longer than its column keeps a readable start and a digest of the whole."""
    if len(key) <= _KEY_LENGTH:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    return f"{key[: _KEY_LENGTH - len(digest) - 1]}#{digest}"


def notify_coordinators(
    *, kind: str, message: str, case_id: int | None = None, key: str | None = None
) -> None:
    """Tells every active coordinator; with a key, each of them once."""
    coordinators = db.session.scalars(
        select(User.id).where(User.role == Role.COORDINATOR.value, User.active.is_(True))
    ).all()
    for user_id in coordinators:
        notify(user_id, kind=kind, message=message, case_id=case_id, key=key)


def inbox(user: User, *, unread_only: bool = False, limit: int = 50) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user.id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def mark_read(user: User, notification_id: int) -> None:
    """Marks one of the user's own notifications read; anyone else's is a 404."""
    owner = db.session.scalar(
        select(Notification.user_id).where(Notification.id == notification_id)
    )
    if owner is None or owner != user.id:
        from board.errors import NotFound

        raise NotFound()
    db.session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.user_id == user.id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    db.session.commit()


def send_email(notification_id: int, outbox_id: int | None = None) -> bool:
    """Sends one notification by SMTP. Idempotent: a sent notification is not sent
    again. Returns whether an email went out."""
    note = db.session.get(Notification, notification_id, with_for_update=True)
    if note is None or note.emailed_at is not None:
        outbox.mark_done(outbox_id)
        db.session.commit()
        return False
    user = db.session.get(User, note.user_id)
    assert user is not None
    config = current_app.config
    email = EmailMessage()
    email["From"] = config["MAIL_FROM"]
    email["To"] = user.email
    email["Subject"] = _subject(note)
    link = f"{config['BASE_URL'].rstrip('/')}/"
    email.set_content(
        f"Dear {user.name},\n\n{note.message}\n\nSign in to the board to see it: {link}\n\n"
        "This message carries no patient details by design.\n"
    )
    with smtplib.SMTP(
        config["MAIL_SERVER"], config["MAIL_PORT"], timeout=config["MAIL_TIMEOUT"]
    ) as smtp:
        smtp.send_message(email)
    note.emailed_at = utcnow()
    outbox.mark_done(outbox_id)
    db.session.commit()
    return True


def _subject(note: Notification) -> str:
    case = f" (case #{note.case_id})" if note.case_id else ""
    titles = {
        "assignment": "New review assignment",
        "unroutable": "A case could not be routed",
        "reassigned": "Your assignment was reassigned",
        "second_opinion": "Your second opinion is ready",
        "ready_for_board": "All reviews are in",
        "overdue": "A review is overdue",
        "task_parked": "A background task needs attention",
        "declined": "A reviewer declined an assignment",
        "records_requested": "A reviewer asks for more records",
        "records_arrived": "The records you asked for have arrived",
        "review_due_soon": "Your review is due soon",
        "review_due": "Your review is due now",
        "routing_decision": "Routing needs your decision",
        "due_date_changed": "Your review's due date changed",
        "break_glass": "A restricted case was opened by break-glass",
    }
    return titles.get(note.kind, "Tumor board notification") + case
