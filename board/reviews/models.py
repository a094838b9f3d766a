from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from board.auth.models import User
from board.cases.models import Case
from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class AssignmentStatus(enum.StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    COMPLETED = "completed"
    DECLINED = "declined"
    REASSIGNED = "reassigned"


# An assignment that still counts for its specialty: at most one per case and specialty.
ACTIVE_ASSIGNMENT = (
    AssignmentStatus.OFFERED,
    AssignmentStatus.ACCEPTED,
    AssignmentStatus.COMPLETED,
)
OPEN_ASSIGNMENT = (AssignmentStatus.OFFERED, AssignmentStatus.ACCEPTED)


class Purpose(enum.StrEnum):
    PRIMARY = "primary"  # the reviewer a required specialty needs (routing fills these)
    ADDITIONAL = "additional"  # a second reader of the same specialty, added by the coordinator
    TIE_BREAK = "tie_break"  # a third opinion where two readers of a specialty disagree


_PRIMARY_SQL = text("status IN ('offered', 'accepted', 'completed') AND purpose = 'primary'")
_OPEN_SQL = text("status IN ('offered', 'accepted')")
_TIE_BREAK_SQL = text("status IN ('offered', 'accepted', 'completed') AND purpose = 'tie_break'")


def assignment_is_overdue(
    status: str, due_at: dt.datetime, case_paused_at: dt.datetime | None, now: dt.datetime | None
) -> bool:
    """Open and past its due date, but not while the case's clock is paused for records a
    reviewer asked for (the model and the read models of the inbox and the case file)."""
    return status in OPEN_ASSIGNMENT and case_paused_at is None and (now or utcnow()) > due_at


class Assignment(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "assignments"
    __table_args__ = (
        # A repeated routing delivery cannot assign the same reviewer twice...
        UniqueConstraint("case_id", "reviewer_id"),
        # ...nor fill a specialty's primary review twice...
        Index(
            "uq_assignments_active_specialty",
            "case_id",
            "specialty",
            unique=True,
            postgresql_where=_PRIMARY_SQL,
            sqlite_where=_PRIMARY_SQL,
        ),
        # ...nor ask for a tie-break twice on one dimension.
        Index(
            "uq_assignments_tie_break_dimension",
            "case_id",
            "tie_break_dimension",
            unique=True,
            postgresql_where=_TIE_BREAK_SQL,
            sqlite_where=_TIE_BREAK_SQL,
        ),
        Index("ix_assignments_reviewer_id_status", "reviewer_id", "status"),
        # Routing's roster, per reviewer (e8indexes01): the open ones, the latest one.
        Index(
            "ix_assignments_open_reviewer_id",
            "reviewer_id",
            postgresql_where=_OPEN_SQL,
            sqlite_where=_OPEN_SQL,
        ),
        Index("ix_assignments_reviewer_id_created_at", "reviewer_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    specialty: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default=AssignmentStatus.OFFERED.value)
    purpose: Mapped[str] = mapped_column(String(20), default=Purpose.PRIMARY.value)
    # For a tie-break: the dimension (diagnosis, stage, plan) the readers disagree on.
    tie_break_dimension: Mapped[str | None] = mapped_column(String(20))
    # Why this reviewer was chosen, in words (the routing policy's reason).
    reason: Mapped[str] = mapped_column(Text)
    assigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    decline_reason: Mapped[str | None] = mapped_column(Text)
    overdue_flagged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    # Which time this assignment was reminded/escalated for: the due date moves when
    # the clock pauses, and a moved due date earns its own reminders.
    reminded_before_due_for: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    reminded_at_due_for: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    case: Mapped[Case] = relationship()
    reviewer: Mapped[User] = relationship(foreign_keys=[reviewer_id])
    review: Mapped[Review | None] = relationship(back_populates="assignment", uselist=False)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ASSIGNMENT

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return assignment_is_overdue(self.status, self.due_at, self.case.paused_at, now)


class Dimension(enum.StrEnum):
    DIAGNOSIS = "diagnosis"
    STAGE = "stage"
    PLAN = "plan"


class Verdict(enum.StrEnum):
    CONCUR = "concur"
    DIFFER = "differ"


class Severity(enum.StrEnum):
    MINOR = "minor"  # no change in management
    MAJOR = "major"  # changes management


class Review(db.Model):  # type: ignore[name-defined,misc]
    """A reviewer's signed opinion. Immutable once written: there is no update path."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    additional_options: Mapped[str | None] = mapped_column(Text)
    # Re-testing the reviewer recommends (board.reviews.schemas.Retest), e.g. HER2 by ISH.
    retesting: Mapped[list[str]] = mapped_column(JSONType, default=list)
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # SHA-256 over the canonical JSON of the verdicts, the reviewer and the time:
    # shows the stored review is the one that was signed.
    signature: Mapped[str] = mapped_column(String(64))

    assignment: Mapped[Assignment] = relationship(back_populates="review")
    reviewer: Mapped[User] = relationship()
    verdicts: Mapped[list[ReviewVerdict]] = relationship(
        order_by="ReviewVerdict.id", cascade="all, delete-orphan"
    )

    def verdict_for(self, dimension: str) -> ReviewVerdict | None:
        return next((v for v in self.verdicts if v.dimension == dimension), None)


class ReviewVerdict(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "review_verdicts"
    __table_args__ = (UniqueConstraint("review_id", "dimension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    dimension: Mapped[str] = mapped_column(String(20))
    verdict: Mapped[str] = mapped_column(String(10))
    severity: Mapped[str | None] = mapped_column(String(10))
    alternative: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Why it differs, in the categories studies count (board.reviews.schemas.DifferReason).
    reasons: Mapped[list[str]] = mapped_column(JSONType, default=list)
    rationale: Mapped[str | None] = mapped_column(Text)
