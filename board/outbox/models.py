from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    DONE = "done"
    PARKED = "parked"  # delivered too often without finishing: a person must look


class OutboxMessage(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "outbox_messages"
    __table_args__ = (Index("ix_outbox_messages_status_available_at", "status", "available_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(100))
    # Ids only: patient data never travels through the broker.
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(20), default=OutboxStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    available_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
