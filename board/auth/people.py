"""A user as a page names them, without loading the account: a reviewer on a case, the
signer of a consensus, a candidate the coordinator may assign. Read-only snapshots built
from a query's columns (board/cases/case_file.py, board/routing/services.py); they carry
the attribute names of board.auth.models.User the templates read (`name`, `specialty`,
`institution.name`)."""

from __future__ import annotations

from dataclasses import dataclass

from board.auth.roles import REVIEWER_SPECIALTY, Role, Specialty


@dataclass(frozen=True)
class Named:
    name: str


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    role: str
    institution: Named | None = None

    @property
    def specialty(self) -> Specialty | None:
        return REVIEWER_SPECIALTY.get(Role(self.role))
