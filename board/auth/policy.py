"""Object-level authorisation: who may see and do what with a case.

Every page, API endpoint and download asks here. A denial for something the
user may not know exists must look like a missing id (404), so callers raise
NotFound, never Forbidden, when `can_view_case` is false.
"""

from __future__ import annotations

from collections.abc import Collection

from board.auth.roles import Role, is_reviewer


def can_view_case(
    *, user_id: int, role: Role, referrer_id: int, assigned_reviewer_ids: Collection[int]
) -> bool:
    if role is Role.COORDINATOR:
        return True
    if role is Role.REFERRER:
        return user_id == referrer_id
    if is_reviewer(role):
        # Only while assigned: a declined or reassigned reviewer loses sight at once.
        return user_id in assigned_reviewer_ids
    return False  # admin: accounts, not clinical content


def can_edit_draft(*, user_id: int, role: Role, referrer_id: int) -> bool:
    return role is Role.REFERRER and user_id == referrer_id


def can_coordinate(role: Role) -> bool:
    return role is Role.COORDINATOR


def can_import_referral(role: Role) -> bool:
    """Only a referring oncologist sends a case, as a FHIR Bundle or by hand; the case is
    theirs."""
    return role is Role.REFERRER
