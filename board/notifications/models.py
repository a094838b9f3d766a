from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from board.db import UTCDateTime, utcnow
from board.extensions import db


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """An in-app inbox message, also sent by email. Its text names the case by
    number only: email is not a safe place for patient data."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_user_id_read_at", "user_id", "read_at"),
        # The idempotency key: a repeated task (a redelivery, a second beat) that
        # would notify the same person of the same event adds nothing.
        UniqueConstraint("user_id", "key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str | None] = mapped_column(String(120))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    emailed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
