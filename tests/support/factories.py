"""Builders for test data, through the real services where a service exists."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from typing import Any

from board.auth import services as auth
from board.auth.models import Institution, User
from board.auth.roles import Role
from board.extensions import db
from board.pdf_sample import sample_pdf

PASSWORD = "correct horse battery staple"
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
    db.session.commit()
    return account


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
