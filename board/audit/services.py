"""Audit trail: every read and change of patient data leaves one row.

`record()` adds the row to the caller's session and never commits: the audit row
lands in the same transaction as the change it describes, or not at all. Reads
are recorded by `record_read()`, which commits its own row.
"""

from __future__ import annotations

import uuid

from flask import g, has_request_context, request
from flask_login import current_user

from board.audit.models import AuditEvent
from board.auth.models import User
from board.extensions import db


def request_id() -> str | None:
    if not has_request_context():
        return None
    if "request_id" not in g:
        g.request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex
    return str(g.request_id)


def record(
    action: str,
    *,
    actor: User | None = None,
    case_id: int | None = None,
    object_type: str | None = None,
    object_id: int | None = None,
    outcome: str = "ok",
    severity: str | None = None,
) -> AuditEvent:
    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user._get_current_object()  # type: ignore[attr-defined]
    event = AuditEvent(
        actor_id=actor.id if actor else None,
        actor_role=actor.role if actor else None,
        action=action,
        case_id=case_id,
        object_type=object_type,
        object_id=object_id,
        outcome=outcome,
        source_ip=request.remote_addr if has_request_context() else None,
        request_id=request_id(),
        severity=severity,
    )
    db.session.add(event)
    return event


def record_read(action: str, **kwargs: object) -> None:
    record(action, **kwargs)  # type: ignore[arg-type]
    db.session.commit()
