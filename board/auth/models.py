from __future__ import annotations

import datetime as dt

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Index, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from board.auth.roles import REVIEWER_SPECIALTY, Role, Specialty
from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class Institution(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "institutions"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Insurers whose networks include this institution's reviewers (domain.md, "Insurance").
    insurer_networks: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # The administrator's setting: referrers of this institution (one practice) see
    # each other's cases; off, a referrer sees only the cases they submitted.
    share_cases_in_practice: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(40), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Reviewers only: a reviewer must hold the breast sub-specialty to be routed a case,
    # and is routed no more than this many open assignments at once.
    breast_subspecialty: Mapped[bool] = mapped_column(Boolean, default=True)
    max_open_assignments: Mapped[int] = mapped_column(default=10)

    institution: Mapped[Institution] = relationship(lazy="joined")

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def specialty(self) -> Specialty | None:
        return REVIEWER_SPECIALTY.get(Role(self.role))

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive accounts
        return self.active


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    """A bearer token. Only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship(lazy="joined")


class AvailabilityWindow(db.Model):  # type: ignore[name-defined,misc]
    """A time a reviewer is away (leave, conference): routing passes them over."""

    __tablename__ = "availability_windows"
    __table_args__ = (Index("ix_availability_windows_user_id_ends_at", "user_id", "ends_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BreakGlassGrant(db.Model):  # type: ignore[name-defined,misc]
    """A coordinator opened a restricted case with a written reason: time-limited access
    to that case for that coordinator (board/auth/policy.py)."""

    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_grants_user_id_case_id", "user_id", "case_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
