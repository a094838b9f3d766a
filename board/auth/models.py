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
    # TOTP second factor (board/auth/mfa.py). The secret is set at enrolment and kept
    # until an administrator resets it; `totp_last_step` is the last 30-second step whose
    # code was accepted, so a code is single-use (RFC 6238 section 5.2).
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enrolled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None]
    # Only board/demo_seed.py sets this: the demo accounts of `make run` sign in without
    # a second factor. No page, API or command of the app sets it.
    mfa_exempt: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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


class WebSession(db.Model):  # type: ignore[name-defined,misc]
    """A server-side browser session (board/auth/sessions.py).

    The cookie carries only a random id; the row is keyed by its SHA-256, so a copy of
    this table gives no usable cookie. Kept in the database, not Redis, so a Redis outage
    neither signs anyone out nor loses a half-filled form's CSRF token.
    """

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[str] = mapped_column(Text)  # JSON, never pickle
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)


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
