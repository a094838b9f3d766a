from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """One read or change of patient data, or an authentication event. Append-only:
    a database trigger refuses UPDATE, DELETE and TRUNCATE (see the migration
    e6auditchain01), and each row is chained by hash to the one before it
    (board/audit/chain.py). Rows are written only by board.audit.services.record().

    `id` is the row's place in the chain, assigned at commit under a lock (not by
    the sequence), so ids run 1, 2, 3, ... in commit order with no gap. There are
    deliberately no foreign keys: an audit row must never wait for, or be refused
    because of, a lock or a change on a user or a case (a foreign key check takes a
    share lock on the parent row while the chain lock is held)."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # The trail pages: one case's or one person's rows, newest first, by keyset.
        Index("ix_audit_events_case_id_id", "case_id", "id"),
        Index("ix_audit_events_actor_id_id", "actor_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor_id: Mapped[int | None]
    actor_role: Mapped[str | None] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(60))
    case_id: Mapped[int | None]
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[int | None]
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    # What the action needs beyond the columns, e.g. a role change's old and new role.
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))

    def as_chain_row(self) -> dict[str, Any]:
        from board.audit.chain import FIELDS

        return {name: getattr(self, name) for name in (*FIELDS, "row_hash")}

    # "high" for what a reviewer of the trail must look at (break-glass); empty otherwise.
    severity: Mapped[str | None] = mapped_column(String(10))
