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
from board.auth.models import ApiToken, Institution, User
from board.auth.roles import Role
from board.db import utcnow
from board.extensions import db

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
