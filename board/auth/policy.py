"""Object-level authorisation: who may see and do what with a case. The one place.

Every page, API endpoint, download and task asks here (services call these
functions; views never decide access themselves). The rules (issue 6, "Access"):

- a referrer sees the cases they submitted, and those of their practice (their
  institution) when the administrator turned on `share_cases_in_practice` for it;
  only the submitting referrer edits a draft;
- a reviewer sees a case only while one of their assignments on it is open or signed
  (offered, accepted, completed): a declined or reassigned assignment, or a withdrawn
  case, takes the case away at the next request;
- a coordinator sees every case, except that a *restricted* case (the referrer marked
  it: the patient is a staff member or a public figure) is listed with the identity
  masked and opens only through break-glass: a written reason grants that coordinator
  time-limited access to that case (BREAK_GLASS_MINUTES), audited at high severity;
- an administrator manages accounts and sees no clinical content (a user has one role,
  so an administrator is never also a coordinator).

A denial for something the user may not know exists must look like a missing id (404):
callers raise NotFound. The one exception is a restricted case shown to a coordinator:
they know it exists (it is listed), so they are told to break the glass (403).

The decisions are pure functions of small frozen facts (`Viewer`, `CaseFacts`); the
functions below them gather those facts from the database.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from board.auth.roles import Role, is_reviewer

if TYPE_CHECKING:
    from board.auth.models import User
    from board.cases.case_file import FileCase
    from board.cases.models import Case


class Access(enum.Enum):
    NONE = "none"  # 404: as if the case did not exist
    BREAK_GLASS = "break_glass"  # 403: a restricted case; the coordinator must break the glass
    FULL = "full"


@dataclass(frozen=True)
class Viewer:
    id: int
    role: Role
    institution_id: int
    # The administrator's setting for the viewer's institution.
    shares_practice: bool = False


@dataclass(frozen=True)
class CaseFacts:
    referrer_id: int
    institution_id: int
    restricted: bool = False
    withdrawn: bool = False
    # Reviewers whose assignment on the case is open or signed.
    active_reviewer_ids: frozenset[int] = frozenset()


def case_access(viewer: Viewer, case: CaseFacts, *, break_glass: bool = False) -> Access:
    """PURE: what this viewer may do with this case's content."""
    if viewer.role is Role.COORDINATOR:
        return Access.BREAK_GLASS if case.restricted and not break_glass else Access.FULL
    if viewer.role is Role.REFERRER:
        if viewer.id == case.referrer_id:
            return Access.FULL
        if viewer.shares_practice and viewer.institution_id == case.institution_id:
            return Access.FULL
        return Access.NONE
    if is_reviewer(viewer.role):
        # Only while assigned: a declined or reassigned reviewer loses sight at once.
        if viewer.id in case.active_reviewer_ids and not case.withdrawn:
            return Access.FULL
        return Access.NONE
    return Access.NONE  # admin: accounts, not clinical content


def can_view_case(
    *, user_id: int, role: Role, referrer_id: int, assigned_reviewer_ids: Collection[int]
) -> bool:
    """PURE, the short form: an unrestricted case, no practice sharing."""
    viewer = Viewer(user_id, role, 0)
    facts = CaseFacts(referrer_id, -1, active_reviewer_ids=frozenset(assigned_reviewer_ids))
    return case_access(viewer, facts) is Access.FULL


def can_edit_draft(*, user_id: int, role: Role, referrer_id: int) -> bool:
    """Only the referrer who submitted it (practice sharing shows, never edits)."""
    return role is Role.REFERRER and user_id == referrer_id


def can_coordinate(role: Role) -> bool:
    return role is Role.COORDINATOR


def can_import_referral(role: Role) -> bool:
    """Only a referring oncologist sends a case, as a FHIR Bundle or by hand; the case is
    theirs."""
    return role is Role.REFERRER


def can_mark_restricted(*, user_id: int, role: Role, referrer_id: int) -> bool:
    return role is Role.REFERRER and user_id == referrer_id


def can_break_glass(role: Role) -> bool:
    return role is Role.COORDINATOR


def can_manage_accounts(role: Role) -> bool:
    return role is Role.ADMIN


# --- The same decisions, with the facts read from the database -----------------------


def viewer_of(user: User) -> Viewer:
    role = Role(user.role)
    # Practice sharing matters to referrers only: nobody else's institution is read.
    shares = role is Role.REFERRER and bool(
        user.institution and user.institution.share_cases_in_practice
    )
    return Viewer(user.id, role, user.institution_id, shares)


def facts_of(case: Case | FileCase, viewer: Viewer) -> CaseFacts:
    """The facts `case_access` needs to decide for this viewer: the case's own columns,
    and for a reviewer whether they hold an open or signed assignment on it (nobody
    else's decision reads the reviewers, so nobody else's request asks for them)."""
    from sqlalchemy import select

    from board.cases.rules import CaseStatus
    from board.extensions import db
    from board.reviews.models import ACTIVE_ASSIGNMENT, Assignment

    reviewers: frozenset[int] = frozenset()
    if is_reviewer(viewer.role):
        reviewers = frozenset(
            db.session.scalars(
                select(Assignment.reviewer_id).where(
                    Assignment.case_id == case.id,
                    Assignment.reviewer_id == viewer.id,
                    Assignment.status.in_(ACTIVE_ASSIGNMENT),
                )
            )
        )
    return CaseFacts(
        case.referrer_id,
        case.institution_id,
        bool(case.restricted),
        case.status == CaseStatus.WITHDRAWN.value,
        reviewers,
    )


def has_break_glass(user: User, case_id: int, now: dt.datetime | None = None) -> bool:
    from sqlalchemy import select

    from board.auth.models import BreakGlassGrant
    from board.db import utcnow
    from board.extensions import db

    return (
        db.session.scalar(
            select(BreakGlassGrant.id)
            .where(
                BreakGlassGrant.user_id == user.id,
                BreakGlassGrant.case_id == case_id,
                BreakGlassGrant.expires_at > (now or utcnow()),
            )
            .limit(1)
        )
        is not None
    )


def access_to(user: User, case: Case | FileCase) -> Access:
    viewer = viewer_of(user)
    glass = bool(case.restricted) and can_break_glass(viewer.role)
    return case_access(
        viewer, facts_of(case, viewer), break_glass=glass and has_break_glass(user, case.id)
    )


def require_role(user: User, *roles: Role) -> None:
    """Role-only actions answer 404 to every other role, like a missing page."""
    from board.errors import NotFound

    if Role(user.role) not in roles:
        raise NotFound()


def require_coordinator(user: User) -> None:
    require_role(user, Role.COORDINATOR)


def check_coordinated_case(user: User, case: Case | None) -> Case:
    """A case the coordinator acts on: any case, but a restricted one only while the
    coordinator holds a break-glass grant for it."""
    from board.errors import BreakGlassRequired, NotFound

    require_coordinator(user)
    if case is None:
        raise NotFound()
    if case.restricted and not has_break_glass(user, case.id):
        raise BreakGlassRequired(case.id)
    return case
