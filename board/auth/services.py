"""Accounts, passwords and API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context
from sqlalchemy import func, select
from sqlalchemy.orm import lazyload

from board.audit import services as audit
from board.auth import mfa, passwords, policy, throttle
from board.auth.models import ApiToken, AvailabilityWindow, Institution, User
from board.auth.roles import Role
from board.db import utcnow
from board.errors import Conflict, NotFound
from board.extensions import db
from board.validation import FieldError, InvalidInput


def _hasher() -> PasswordHasher:
    params = current_app.config["PASSWORD_ARGON2"] if has_app_context() else passwords.OWASP_ARGON2
    return passwords.hasher(params["time_cost"], params["memory_cost"], params["parallelism"])


@cache
def _dummy_hash(hasher: PasswordHasher) -> str:
    # Verifying against a throwaway hash when the account does not exist keeps the
    # response time the same, so timing does not reveal which emails have accounts.
    return hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher().hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


class Throttled(Exception):
    """Too many failed sign-ins for this account or from this address."""


def mfa_required(user: User) -> bool:
    """Every account, clinical or administrator, unless the demo seed exempted it."""
    return not user.mfa_exempt


def check_password(email: str, password: str, address: str | None) -> User | None:
    """The first factor: the active account with this email and password, else None.

    An unknown email, a wrong password and an inactive account cost the same (one argon2
    verification) and look the same to the caller. Failures are audited and counted by
    the throttle; raises Throttled (also audited) while the throttle holds."""
    if throttle.blocked(email, address):
        audit.record("login_failed", actor=find_user_by_email(email), outcome="throttled")
        db.session.commit()
        raise Throttled()
    hasher = _hasher()
    user = find_user_by_email(email)
    if user is None:
        password_matches(_dummy_hash(hasher), password)
        ok = False
    else:
        ok = password_matches(user.password_hash, password) and user.active
    if not ok:
        throttle.failed(email, address)
        audit.record(
            "login_failed",
            actor=user,
            object_type="user" if user else None,
            object_id=user.id if user else None,
            outcome="denied",
        )
        db.session.commit()
        return None
    assert user is not None
    if hasher.check_needs_rehash(user.password_hash):
        # The configured parameters changed since this hash was made (PASSWORD_ARGON2).
        user.password_hash = hasher.hash(password)
        db.session.commit()
    return user


def check_code(user: User, code: str, address: str | None) -> bool:
    """The second factor of an enrolled account; a code is accepted once (replay refused)."""
    if throttle.blocked(user.email, address):
        audit.record("login_failed", actor=user, object_type="totp", outcome="throttled")
        db.session.commit()
        raise Throttled()
    step = (
        mfa.accepted_step(user.totp_secret, code, last_step=user.totp_last_step)
        if user.totp_secret
        else None
    )
    if step is None:
        throttle.failed(user.email, address)
        audit.record("login_failed", actor=user, object_type="totp", outcome="denied")
        db.session.commit()
        return False
    user.totp_last_step = step
    db.session.commit()
    return True


def enrol_totp(user: User, secret: str, code: str, address: str | None) -> bool:
    """Confirms enrolment with a first code from the app, then keeps the secret."""
    if throttle.blocked(user.email, address):
        raise Throttled()
    step = mfa.accepted_step(secret, code, last_step=None)
    if step is None:
        throttle.failed(user.email, address)
        audit.record("login_failed", actor=user, object_type="totp", outcome="denied")
        db.session.commit()
        return False
    user.totp_secret = secret
    user.totp_enrolled_at = utcnow()
    user.totp_last_step = step
    audit.record("mfa_enrolled", actor=user, object_type="user", object_id=user.id)
    db.session.commit()
    return True


def record_login(user: User) -> None:
    """Both factors passed: clears the account's failure count and audits the sign-in."""
    throttle.succeeded(user.email)
    audit.record("login", actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def authenticate(
    email: str, password: str, otp: str | None = None, address: str | None = None
) -> User | None:
    """Both factors at once, for the API's token endpoint: email, password and, for an
    account that needs one, the current code of its enrolled authenticator."""
    user = check_password(email, password, address)
    if user is None:
        return None
    if mfa_required(user):
        if not user.totp_secret:
            # Enrolment needs the QR code of the sign-in page; the API cannot enrol.
            throttle.failed(email, address)
            audit.record("login_failed", actor=user, object_type="totp", outcome="denied")
            db.session.commit()
            return None
        if not check_code(user, otp or "", address):
            return None
    record_login(user)
    return user


def record_logout(user: User) -> None:
    audit.record("logout", actor=user, object_type="user", object_id=user.id)
    db.session.commit()


def validate_new_password(password: str, *, email: str, field: str = "password") -> None:
    problems = passwords.password_problems(password, email=email)
    if problems:
        raise InvalidInput([FieldError(field, p) for p in problems])


def change_password(user: User, current: str, new: str, confirm: str) -> None:
    """The signed-in user changes their own password; their other sessions end."""
    from board.auth.sessions import end_sessions_of

    errors = []
    if not password_matches(user.password_hash, current):
        errors.append(FieldError("current_password", "is not your current password"))
    problems = passwords.password_problems(new, email=user.email)
    errors += [FieldError("new_password", p) for p in problems]
    if not problems and new != confirm:
        errors.append(FieldError("confirm_password", "does not match the new password"))
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(new)
    audit.record("password_changed", actor=user, object_type="user", object_id=user.id)
    db.session.commit()
    end_sessions_of(user.id, keep_current=True)


def reset_mfa(admin: User, user_id: int) -> User:
    """An administrator's recovery for a lost authenticator: the account enrols again at
    its next sign-in, and every session it has ends now."""
    from board.auth.sessions import end_sessions_of

    if Role(admin.role) is not Role.ADMIN:
        raise NotFound()
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    user.totp_secret = None
    user.totp_enrolled_at = None
    user.totp_last_step = None
    audit.record("mfa_reset", actor=admin, object_type="user", object_id=user.id)
    db.session.commit()
    end_sessions_of(user.id)
    return user


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
    """Tokens live in the database, so they keep working while Redis is down. The
    account of a live token, in one statement (the token row itself is not needed)."""
    return db.session.scalar(
        select(User)
        # The institution only when asked for (a referrer's practice sharing).
        .options(lazyload(User.institution))
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(
            ApiToken.token_hash == _token_digest(token),
            ApiToken.revoked_at.is_(None),
            ApiToken.expires_at > utcnow(),
            User.active.is_(True),
        )
    )


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
        validate_new_password(password, email=email)
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


def change_role(admin: User, user_id: int, new_role: str) -> User:
    """The administrator gives an account another role, audited with the old and the
    new role. The next request of that person is judged by the new role (the role is
    read from the database on every request)."""
    if admin.role != Role.ADMIN:
        raise NotFound()
    # Locked against a concurrent change (OF users: the institution is outer-joined).
    user = db.session.scalar(select(User).where(User.id == user_id).with_for_update(of=User))
    if user is None:
        raise NotFound()
    try:
        role = Role(new_role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput([FieldError("role", f"must be one of {allowed}")]) from None
    if user.id == admin.id:
        raise Conflict("You cannot change your own role; ask another administrator")
    old = user.role
    if old == role.value:
        db.session.commit()  # nothing changes; releases the row lock
        return user
    # Imported here: the reviews models build on the accounts.
    from board.reviews.models import OPEN_ASSIGNMENT, Assignment

    open_assignments = db.session.scalar(
        select(func.count())
        .select_from(Assignment)
        .where(Assignment.reviewer_id == user.id, Assignment.status.in_(OPEN_ASSIGNMENT))
    )
    if open_assignments:
        raise Conflict(
            f"{user.name} has {open_assignments} open assignment"
            f"{'s' if open_assignments != 1 else ''}; reassign "
            f"{'them' if open_assignments != 1 else 'it'} before changing the role"
        )
    user.role = role.value
    audit.record(
        "role_change",
        actor=admin,
        object_type="user",
        object_id=user.id,
        detail={"old_role": old, "new_role": role.value},
    )
    db.session.commit()
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
