"""Password rules and hashing.

Rules (NIST SP 800-63B section 5.1.1.2; OWASP ASVS 2.1): at least 8 characters, 15 or more
recommended, not a commonly used password, not the account's email; no composition rules
(no "one digit and one symbol"), every printable character and spaces allowed. The upper
bound only keeps a hash request from being a denial of service.

Hashing: argon2id at the parameters of the OWASP Password Storage Cheat Sheet ("Use
Argon2id with a minimum configuration of 19 MiB of memory, an iteration count of 2, and
1 degree of parallelism"), from PASSWORD_ARGON2 in the configuration. A stored hash made
with other parameters is replaced at the next successful sign-in.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from argon2 import PasswordHasher, Type

MIN_LENGTH = 8
RECOMMENDED_LENGTH = 15
MAX_LENGTH = 256

HINT = (
    f"At least {MIN_LENGTH} characters; {RECOMMENDED_LENGTH} or more recommended. "
    "A few unrelated words make a good one. Common passwords are refused."
)

# OWASP Password Storage Cheat Sheet, argon2id, first configuration listed.
OWASP_ARGON2 = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}

_LIST = Path(__file__).with_name("common_passwords.txt")


@cache
def common_passwords() -> frozenset[str]:
    """The shipped list (see the header of common_passwords.txt for its source)."""
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def password_problems(password: str, *, email: str = "") -> list[str]:
    """Why this password is refused, in words for the person choosing it (empty: fine)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(
            f"must be at least {MIN_LENGTH} characters ({RECOMMENDED_LENGTH} or more recommended)"
        )
    elif len(password) > MAX_LENGTH:
        problems.append(f"must be at most {MAX_LENGTH} characters")
    folded = password.strip().lower()
    if folded in common_passwords():
        problems.append("is one of the most common passwords; choose another")
    elif email and folded == email.strip().lower():
        problems.append("must not be your email address")
    return problems


@cache
def hasher(time_cost: int, memory_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )
