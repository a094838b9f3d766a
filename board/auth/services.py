"""Accounts, passwords and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from sqlalchemy import select

from board.audit import services as audit
from board.auth import policy
from board.auth.models import ApiToken, AvailabilityWindow, Institution, User
from board.auth.roles import Role
from board.db import utcnow
from board.errors import NotFound
from board.extensions import db
from board.validation import FieldError, InvalidInput

# argon2-cffi's default is RFC 9106's second recommended profile (argon2id, 64 MiB,
# 3 passes), above OWASP's minimum for argon2id.
_hasher = PasswordHasher()

# Verifying against a throwaway hash when the account does not exist keeps the
# response time the same, so timing does not reveal which emails have accounts.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def authenticate(email: str, password: str) -> User | None:
    """The active account with this email and password, else None. Audited either way."""
    user = find_user_by_email(email)
    if user is None:
        password_matches(_DUMMY_HASH, password)
        audit.record("login_failed", outcome="denied")
        db.session.commit()
        return None
    if not password_matches(user.password_hash, password) or not user.active:
        audit.record("login_failed", actor=user, outcome="denied")
        db.session.commit()
        return None
    audit.record("login", actor=user)
    db.session.commit()
    return user


def record_logout(user: User) -> None:
    audit.record("logout", actor=user)
    db.session.commit()


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User) -> str:
    token = secrets.token_urlsafe(32)
    hours = current_app.config["API_TOKEN_HOURS"]
    db.session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_token_digest(token),
            expires_at=utcnow() + dt.timedelta(hours=hours),
        )
    )
    db.session.commit()
    return token


def user_for_token(token: str) -> User | None:
    """Tokens live in the database, so they keep working while Redis is down."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _token_digest(token)))
    if row is None or row.revoked_at is not None or row.expires_at <= utcnow():
        return None
    return row.user if row.user.active else None


def create_institution(name: str, insurer_networks: list[str] | None = None) -> Institution:
    institution = Institution(name=name, insurer_networks=insurer_networks or [])
    db.session.add(institution)
    db.session.flush()
    return institution


def create_user(
    *,
    email: str,
    name: str,
    role: Role,
    institution: Institution,
    password: str | None = None,
    password_hash: str | None = None,
) -> User:
    """Adds an account to the session; the caller commits."""
    if password_hash is None:
        if password is None:
            raise ValueError("a password or a password hash is required")
        password_hash = hash_password(password)
    user = User(
        email=email.strip().lower(),
        name=name,
        role=role.value,
        institution_id=institution.id,
        password_hash=password_hash,
    )
    db.session.add(user)
    db.session.flush()
    return user


def all_accounts() -> list[User]:
    """Every account, for the administrator's accounts page."""
    return list(db.session.scalars(select(User).order_by(User.role, User.email)))


def all_institutions(admin: User) -> list[Institution]:
    policy.require_role(admin, Role.ADMIN)
    return list(db.session.scalars(select(Institution).order_by(Institution.name)))


def set_practice_sharing(admin: User, institution_id: int, share: bool) -> Institution:
    """The administrator's setting per institution: its referrers see each other's
    cases (a practice sharing its work) or only their own. Audited."""
    policy.require_role(admin, Role.ADMIN)
    institution = db.session.get(Institution, institution_id)
    if institution is None:
        raise NotFound()
    if institution.share_cases_in_practice != share:
        institution.share_cases_in_practice = share
        audit.record(
            "institution.practice_sharing_on" if share else "institution.practice_sharing_off",
            actor=admin,
            object_type="institution",
            object_id=institution.id,
        )
    db.session.commit()
    return institution


# --- Reviewers' times away (routing passes them over: board/routing/policy.py) --------

# Longer absences are a change of the roster (the administrator deactivates the
# account), not a time away.
MAX_AWAY = dt.timedelta(days=366)


def _reviewer(user: User) -> None:
    if user.specialty is None:
        raise NotFound()


def _as_utc(value: dt.datetime) -> dt.datetime:
    # The board's clock is UTC; a time without a zone is read as UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def add_window(
    reviewer: User, starts_at: dt.datetime, ends_at: dt.datetime, note: str | None = None
) -> AvailabilityWindow:
    """A reviewer says when they are away; routing passes them over meanwhile."""
    _reviewer(reviewer)
    starts_at, ends_at = _as_utc(starts_at), _as_utc(ends_at)
    note = (note or "").strip() or None
    errors = []
    if ends_at <= starts_at:
        errors.append(FieldError("ends_at", "must be after the start (starts_at)"))
    elif ends_at - starts_at > MAX_AWAY:
        errors.append(FieldError("ends_at", "must be within a year of the start (starts_at)"))
    if ends_at <= utcnow():
        errors.append(FieldError("ends_at", "is in the past: a time away must end in the future"))
    if note is not None and len(note) > 200:
        errors.append(FieldError("note", "must be at most 200 characters"))
    if errors:
        raise InvalidInput(errors)
    window = AvailabilityWindow(
        user_id=reviewer.id, starts_at=starts_at, ends_at=ends_at, note=note
    )
    db.session.add(window)
    db.session.flush()
    audit.record(
        "availability_add", actor=reviewer, object_type="availability_window", object_id=window.id
    )
    db.session.commit()
    return window


def remove_window(reviewer: User, window_id: int) -> None:
    """A reviewer takes back one of their own times away; anyone else's is a 404."""
    _reviewer(reviewer)
    window = db.session.get(AvailabilityWindow, window_id)
    if window is None or window.user_id != reviewer.id:
        raise NotFound()
    audit.record(
        "availability_remove",
        actor=reviewer,
        object_type="availability_window",
        object_id=window.id,
    )
    db.session.delete(window)
    db.session.commit()


def windows_for(reviewer: User) -> list[AvailabilityWindow]:
    """The reviewer's times away that are not over yet, soonest first."""
    _reviewer(reviewer)
    return list(
        db.session.scalars(
            select(AvailabilityWindow)
            .where(AvailabilityWindow.user_id == reviewer.id, AvailabilityWindow.ends_at > utcnow())
            .order_by(AvailabilityWindow.starts_at, AvailabilityWindow.id)
        )
    )
