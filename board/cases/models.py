from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String, Text, false, text
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from board.auth.models import Institution, User
from board.cases.rules import CaseStatus
from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db

# The states in which a case can run late (board/cases/dashboard.py counts the overdue
# ones in SQL).
OVERDUE_STATES = (
    CaseStatus.SUBMITTED,
    CaseStatus.IN_REVIEW,
    CaseStatus.UNROUTABLE,
    CaseStatus.READY_FOR_BOARD,
    CaseStatus.CONSENSUS,
)


def case_is_overdue(
    status: str, due_at: dt.datetime | None, paused_at: dt.datetime | None, now: dt.datetime | None
) -> bool:
    """Past its due date while its clock runs: a paused clock (records awaited) and a
    case past the board cannot run late."""
    return (
        due_at is not None
        and paused_at is None
        and CaseStatus(status) in OVERDUE_STATES
        and (now or utcnow()) > due_at
    )


# The cases whose clock runs: the dashboard counts the overdue ones through the partial
# index below (an index-only scan of the running clocks, not of every case).
CLOCK_RUNNING = text(
    "paused_at IS NULL AND status IN (" + ", ".join(f"'{s.value}'" for s in OVERDUE_STATES) + ")"
)


class Case(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "cases"
    __table_args__ = (
        Index("ix_cases_status_due_at", "status", "due_at"),
        # A case list of one status, newest first (the dashboard's status tabs, its
        # unroutable list, the API's ?status=): keyset pages on (status, id).
        Index("ix_cases_status_id", "status", "id"),
        Index(
            "ix_cases_clock_running_due_at",
            "due_at",
            postgresql_where=CLOCK_RUNNING,
            sqlite_where=CLOCK_RUNNING,
        ),
        # The few cases whose clock is paused: the analytics workload query asks which
        # open assignments are not overdue because of it (an index-only scan, not a
        # read of every case).
        Index(
            "ix_cases_paused",
            "id",
            postgresql_where=text("paused_at IS NOT NULL"),
            sqlite_where=text("paused_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referrer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    status: Mapped[str] = mapped_column(String(30), default=CaseStatus.DRAFT.value)
    timepoint: Mapped[str] = mapped_column(String(30))
    question: Mapped[str] = mapped_column(Text)
    requested_specialties: Mapped[list[str]] = mapped_column(JSONType, default=list)

    patient_name: Mapped[str] = mapped_column(String(200))
    patient_birth_date: Mapped[dt.date] = mapped_column(Date)
    patient_mrn: Mapped[str] = mapped_column(String(64))
    patient_sex: Mapped[str] = mapped_column(String(20))

    # The original opinion as structured fields (board/cases/schemas.py).
    diagnosis: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    stage: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    plan: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    insurance: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    # An urgent case is due in URGENT_REVIEW_DAYS instead of REVIEW_DAYS.
    urgent: Mapped[bool] = mapped_column(default=False)
    # The referrer marks a case restricted (the patient is a staff member or a public
    # figure): coordinators see it listed with the identity masked and open it only
    # through break-glass (board/auth/policy.py).
    restricted: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The coordinator's changes to the specialties routing requires (domain.md:
    # "the coordinator may add or remove any").
    added_specialties: Mapped[list[str]] = mapped_column(JSONType, default=list)
    removed_specialties: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # When an assignment goes overdue: tell the coordinator only, or also move it to
    # the next eligible reviewer.
    auto_reassign: Mapped[bool] = mapped_column(default=False)
    routing_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The service level: a complete opinion within REVIEW_DAYS of a complete submission.
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The clock stops while the case awaits records a reviewer asked for.
    paused_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    paused_seconds: Mapped[int] = mapped_column(default=0)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Whether the referrer carried out the recommendation: fully, partly or not.
    implementation: Mapped[str | None] = mapped_column(String(10))
    implementation_note: Mapped[str | None] = mapped_column(Text)
    implementation_recorded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    referrer: Mapped[User] = relationship(foreign_keys=[referrer_id])
    institution: Mapped[Institution] = relationship()
    records: Mapped[list[Record]] = relationship(
        back_populates="case", order_by="Record.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[CaseEvent]] = relationship(
        back_populates="case", order_by="CaseEvent.id", cascade="all, delete-orphan"
    )

    @property
    def status_enum(self) -> CaseStatus:
        return CaseStatus(self.status)

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return case_is_overdue(self.status, self.due_at, self.paused_at, now)


class CaseStatusCount(db.Model):  # type: ignore[name-defined,misc]
    """(status, +1 or -1) per case added, removed or moved, appended by a trigger on
    `cases` (migration e9statuscounts01); summed by board/cases/status_counts.py."""

    __tablename__ = "case_status_counts"

    id: Mapped[int] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(String(30))
    n: Mapped[int]


class CaseEvent(db.Model):  # type: ignore[name-defined,misc]
    """One status transition: the case's timeline."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(30))
    to_status: Mapped[str] = mapped_column(String(30))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str | None] = mapped_column(Text)

    case: Mapped[Case] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class Record(db.Model):  # type: ignore[name-defined,misc]
    """An uploaded document. Its bytes are a file in the record store (board/records),
    encrypted, under `storage_key`; `filename` is the uploaded name, sanitised, kept as
    metadata only. Rows from before the store have no storage key: their bytes are
    still in RecordBlob until `flask records migrate` moves them."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    page_count: Mapped[int]
    # Of the plaintext: checked on every download and by `flask records verify`.
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Which records key sealed the file (board/records/crypto.py key_id).
    key_id: Mapped[str | None] = mapped_column(String(32))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="records")
    blob: Mapped[RecordBlob] = relationship(cascade="all, delete-orphan", uselist=False)


class RecordBlob(db.Model):  # type: ignore[name-defined,misc]
    # Legacy: earlier versions kept the bytes here, in plaintext. Read through
    # board.records.store.LegacyDbStore until `flask records migrate` moves them.
    __tablename__ = "record_blobs"

    record_id: Mapped[int] = mapped_column(ForeignKey("records.id"), primary_key=True)
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))


class RecordRequest(db.Model):  # type: ignore[name-defined,misc]
    """A reviewer asks the referrer for more records; the clock pauses until they come."""

    __tablename__ = "record_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    assignment_id: Mapped[int | None] = mapped_column(ForeignKey("assignments.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kinds: Mapped[list[str]] = mapped_column(JSONType, default=list)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # The referrer's answer when closing it without every record (e.g. "no MRI was done").
    answer: Mapped[str | None] = mapped_column(Text)

    requested_by: Mapped[User] = relationship()
