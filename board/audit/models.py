from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, FetchedValue, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class AuditEvent(db.Model):  # type: ignore[name-defined,misc]
    """One read or change of patient data, or an authentication event. Append-only:
    a database trigger refuses UPDATE, DELETE and TRUNCATE (see the migration
    e6auditchain01). Rows are written only by board.audit.services.record(), in the
    transaction of what they describe; the chainer links each committed row into the
    hash chain (AuditLink, board/audit/chain.py) shortly after.

    `id` comes from the sequence (a rolled-back row leaves a gap; the chain's own
    numbering is AuditLink.seq). `tx` is the writing transaction's id, filled in by
    PostgreSQL (migration e9auditchainer01; 0 on SQLite): the chainer takes rows in
    (tx, id) order once their transaction is older than every running one. There are
    deliberately no foreign keys: an audit row must never wait for, or be refused
    because of, a lock or a change on a user or a case."""

    __tablename__ = "audit_events"
    __table_args__ = (
        # The trail pages: one case's or one person's rows, newest first, by keyset.
        Index("ix_audit_events_case_id_id", "case_id", "id"),
        Index("ix_audit_events_actor_id_id", "actor_id", "id"),
        # The chainer's scan: the rows after the last linked one, in (tx, id) order.
        Index("ix_audit_events_tx_id", "tx", "id"),
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
    # "high" for what a reviewer of the trail must look at (break-glass); empty otherwise.
    severity: Mapped[str | None] = mapped_column(String(10))
    # Set by the database on INSERT (FetchedValue: the application never writes it).
    tx: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue())


class AuditLink(db.Model):  # type: ignore[name-defined,misc]
    """Row `seq` of the hash chain: audit event `event_id`, the previous row's hash and
    this row's (board/audit/chain.py). Written only by the chainer
    (board/audit/services.py chain_pending), append-only like the events."""

    __tablename__ = "audit_chain"

    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column(unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64))
