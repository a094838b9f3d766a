"""Builders for test data, through the real services where a service exists."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import time_machine
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from board.auth import mfa
from board.auth import services as auth
from board.auth.models import Institution, User
from board.auth.roles import Role
from board.extensions import db
from board.pdf_sample import sample_pdf

PASSWORD = "correct horse battery staple"
# Every account user() makes has this TOTP secret, already enrolled; otp() gives its code.
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
_counter = itertools.count(1)


@cache
def password_hash() -> str:
    # argon2id at full strength takes ~0.1 s; hashing once keeps the suite fast.
    return auth.hash_password(PASSWORD)


def institution(name: str | None = None, networks: list[str] | None = None) -> Institution:
    inst = auth.create_institution(name or f"Institution {next(_counter)}", networks or [])
    db.session.commit()
    return inst


def user(
    role: Role,
    inst: Institution | None = None,
    *,
    email: str | None = None,
    name: str | None = None,
) -> User:
    inst = inst or institution()
    n = next(_counter)
    account = auth.create_user(
        email=email or f"{role.value}{n}@example.test",
        name=name or f"Dr. {role.value.replace('_', ' ').title()} {n}",
        role=role,
        institution=inst,
        password_hash=password_hash(),
    )
    account.totp_secret = TOTP_SECRET
    account.totp_enrolled_at = account.created_at
    db.session.commit()
    return account


@cache
def _engine(database_url: str | None = None) -> Engine:
    from tests.support.services import DATABASE_URL

    return create_engine(database_url or DATABASE_URL, poolclass=NullPool)


_handed_out: dict[str, int] = {}


def otp(email: str, database_url: str | None = None) -> str:
    """A valid code for an account made by user(), for a step the server has not accepted
    yet: codes are single-use, and tests sign one account in many times.

    The server accepts the current step and one either side, each once, so three
    sign-ins in a row need no wait; a fourth within the same 30 s waits for the next step
    (real time). Under time_machine (frozen or moved back in time) there is no next step
    to wait for: the helper then moves the account's last accepted step back, as if the
    travelled-to moment were the first time it signed in. Tests about replay
    (tests/integration/test_login_security.py) compute their codes themselves.
    `database_url`: where the account lives, if not the test database (bench/)."""
    email = email.strip().lower()
    while True:
        with _engine(database_url).begin() as conn:
            stored = conn.execute(
                text("SELECT totp_last_step FROM users WHERE email = :email"), {"email": email}
            ).scalar()
        # Also the last step handed out here: an account on another database (the embedded
        # mode's SQLite) is not in the test database.
        last = max(stored if stored is not None else -1, _handed_out.get(email, -1))
        now = mfa.current_step()
        oldest = now - mfa.DRIFT_STEPS
        if mfa.STEP_SECONDS - time.time() % mfa.STEP_SECONDS < 2:
            # The oldest accepted step leaves the window at the next boundary: a code of it
            # handed out now could arrive after that (seen as a rare failed sign-in).
            oldest += 1
        for step in range(oldest, now + mfa.DRIFT_STEPS + 1):
            if step > last:
                _handed_out[email] = step
                return mfa.code_at(TOTP_SECRET, step)
        if time_machine.escape_hatch.is_travelling():
            rewound = now - mfa.DRIFT_STEPS - 1
            _handed_out[email] = rewound
            with _engine(database_url).begin() as conn:
                conn.execute(
                    text("UPDATE users SET totp_last_step = :step WHERE email = :email"),
                    {"step": rewound, "email": email},
                )
            continue
        if last > now + mfa.DRIFT_STEPS:
            raise AssertionError(f"{email} last signed in at a later time (time travel?)")
        time.sleep((now + 1) * mfa.STEP_SECONDS - time.time() + 0.05)


def case_body(**overrides: Any) -> dict[str, Any]:
    """The case body of the issue, which must keep working as the model grows."""
    body: dict[str, Any] = {
        "patient": {
            "name": "Ada Patient",
            "birth_date": "1968-03-14",
            "mrn": "MRN-0001",
            "sex": "female",
        },
        "timepoint": "post_biopsy",
        "question": "Please confirm the grade and receptor status.",
        "requested_specialties": [],
        "diagnosis": {
            "histologic_type": "invasive_ductal",
            "laterality": "left",
            "grade": 2,
            "er": "positive",
            "pr": "positive",
            "her2": "negative",
        },
        "stage": {"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IB"},
        "plan": {
            "neoadjuvant": False,
            "surgery": "lumpectomy",
            "radiation": True,
            "endocrine": "letrozole",
        },
        "insurance": {
            "insurer": "Acme Health",
            "second_opinion_covered": True,
            "required_by_insurer": False,
            "pathology_review_covered": True,
        },
    }
    body.update(overrides)
    return body


CONCUR = {"verdict": "concur", "severity": None, "alternative": None, "rationale": "Agree."}


def review_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"diagnosis": dict(CONCUR), "stage": dict(CONCUR), "plan": dict(CONCUR)}
    body.update(overrides)
    return body


def pdf(text: str = "Pathology report") -> bytes:
    return sample_pdf(text)


@dataclass(frozen=True)
class Person:
    """An account's id and email, usable after its database session has closed."""

    id: int
    email: str
    name: str


def person(role: Role, inst: Institution | None = None, **kwargs: Any) -> Person:
    account = user(role, inst, **kwargs)
    return Person(account.id, account.email, account.name)
