"""Imports every model so SQLAlchemy's metadata (and Alembic) sees all tables."""

from board.audit.models import AuditEvent
from board.auth.models import ApiToken, AvailabilityWindow, Institution, User
from board.board_meetings.models import (
    AgendaItem,
    Consensus,
    FollowUpQuestion,
    Meeting,
    MeetingAttendance,
)
from board.cases.models import Case, CaseEvent, Record, RecordBlob, RecordRequest
from board.concordance.models import CaseVerdictSummary, SpecialtyVerdictSummary
from board.fhir.models import FhirImport
from board.notifications.models import Notification
from board.outbox.models import OutboxMessage
from board.reviews.models import Assignment, Review, ReviewVerdict

__all__ = [
    "AgendaItem",
    "ApiToken",
    "Assignment",
    "AuditEvent",
    "AvailabilityWindow",
    "Case",
    "CaseEvent",
    "CaseVerdictSummary",
    "Consensus",
    "FhirImport",
    "FollowUpQuestion",
    "Institution",
    "Meeting",
    "MeetingAttendance",
    "Notification",
    "OutboxMessage",
    "Record",
    "RecordBlob",
    "RecordRequest",
    "Review",
    "ReviewVerdict",
    "SpecialtyVerdictSummary",
    "User",
]
