from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from board.auth.models import User
from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class Consensus(db.Model):  # type: ignore[name-defined,misc]
    """The board's signed conclusion on a case. A correction is a new version that
    points at the one it supersedes; signed versions are never edited."""

    __tablename__ = "consensus"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("consensus.id"))
    summary: Mapped[str] = mapped_column(Text)
    diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    stage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    recommendations: Mapped[str | None] = mapped_column(Text)
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    signed_by: Mapped[User] = relationship()


class Meeting(db.Model):  # type: ignore[name-defined,misc]
    """A tumor-board meeting. Weekly meetings created together share a series_id."""

    __tablename__ = "meetings"

    id: Mapped[int] = mapped_column(primary_key=True)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
    duration_minutes: Mapped[int] = mapped_column(default=60, server_default="60")
    place: Mapped[str | None] = mapped_column(String(200))
    video_link: Mapped[str | None] = mapped_column(String(500))
    expected_specialties: Mapped[list[str]] = mapped_column(
        JSONType, default=list, server_default="[]"
    )
    status: Mapped[str] = mapped_column(String(20), default="scheduled", server_default="scheduled")
    series_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    agenda_items: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", order_by="AgendaItem.position", cascade="all, delete-orphan"
    )


class AgendaItem(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("meeting_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    position: Mapped[int] = mapped_column(default=0, server_default="0")
    added_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    meeting: Mapped[Meeting] = relationship(back_populates="agenda_items")


class MeetingAttendance(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "meeting_attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))


class FollowUpQuestion(db.Model):  # type: ignore[name-defined,misc]
    """A referrer's question on a released second opinion; the answer is an addendum."""

    __tablename__ = "follow_up_questions"
    __table_args__ = (
        # The coordinator's dashboard: the questions still waiting, oldest first.
        Index(
            "ix_follow_up_questions_unanswered",
            "asked_at",
            "id",
            postgresql_where=text("answer IS NULL"),
            sqlite_where=text("answer IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    asked_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    question: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    answered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
