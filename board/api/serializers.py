"""How cases, assignments and reviews look in the JSON API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from board.auth.models import AvailabilityWindow
from board.board_meetings.models import Consensus, FollowUpQuestion, Meeting
from board.cases.case_file import (
    FileAssignment,
    FileCase,
    FileConsensus,
    FileEvent,
    FileRecord,
    FileRequest,
    FileReview,
)
from board.cases.models import Case, CaseEvent, Record, RecordRequest
from board.cases.services import ListedCase
from board.cases.stage_check import check_stage
from board.reviews.alternatives import alternative_staging
from board.reviews.models import Assignment, Review
from board.reviews.rules import Disagreement
from board.reviews.services import ListedAssignment
from board.routing.policy import Requirements


def iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def record_json(record: Record | FileRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "kind": record.kind,
        "filename": record.filename,
        "size_bytes": record.size_bytes,
        "page_count": record.page_count,
        "sha256": record.sha256,
        "uploaded_at": iso(record.uploaded_at),
    }


def assignment_json(assignment: Assignment | FileAssignment | ListedAssignment) -> dict[str, Any]:
    return {
        "id": assignment.id,
        "case_id": assignment.case_id,
        "reviewer": {"id": assignment.reviewer_id, "name": assignment.reviewer.name},
        "specialty": assignment.specialty,
        # primary (the specialty's reviewer), additional (a second reader) or tie_break.
        "purpose": assignment.purpose,
        "tie_break_dimension": assignment.tie_break_dimension,
        "status": assignment.status,
        "reason": assignment.reason,
        "due_at": iso(assignment.due_at),
        # A paused clock (the case awaits records) cannot run late.
        "overdue": assignment.is_overdue(),
        "created_at": iso(assignment.created_at),
        "decline_reason": assignment.decline_reason,
    }


def record_request_json(request: RecordRequest | FileRequest) -> dict[str, Any]:
    # The reviewer's specialty, not their name: the referrer answers through the board.
    specialty = request.requested_by.specialty
    return {
        "id": request.id,
        "case_id": request.case_id,
        "assignment_id": request.assignment_id,
        "specialty": specialty.value if specialty else None,
        "kinds": request.kinds,
        "message": request.message,
        "created_at": iso(request.created_at),
        "closed_at": iso(request.closed_at),
        "answer": request.answer,
        "open": request.closed_at is None,
    }


def clock_json(case: Case | FileCase) -> dict[str, Any]:
    return {
        "paused": case.paused_at is not None,
        "paused_at": iso(case.paused_at),
        "paused_seconds": case.paused_seconds or 0,
    }


def review_json(review: Review | FileReview) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": review.id,
        "assignment_id": review.assignment_id,
        "reviewer_id": review.reviewer_id,
        "specialty": review.assignment.specialty,
        "signed_at": iso(review.signed_at),
        "signature": review.signature,
        "additional_options": review.additional_options,
        "retesting": review.retesting,
    }
    for verdict in review.verdicts:
        out[verdict.dimension] = {
            "verdict": verdict.verdict,
            "severity": verdict.severity,
            "alternative": verdict.alternative,
            "reasons": verdict.reasons,
            "rationale": verdict.rationale,
        }
        if verdict.dimension == "stage":
            # The reviewer's own T/N/M staged by the board, and checked against the
            # groups they gave.
            staging = alternative_staging(review)
            if staging is not None:
                out["stage"]["staging"] = staging.as_json()
    return out


def consensus_json(consensus: Consensus | FileConsensus | None) -> dict[str, Any] | None:
    if consensus is None:
        return None
    return {
        "id": consensus.id,
        "version": consensus.version,
        "summary": consensus.summary,
        "diagnosis": consensus.diagnosis,
        "stage": consensus.stage,
        "plan": consensus.plan,
        "recommendations": consensus.recommendations,
        "signed_by": consensus.signed_by.name,
        "signed_at": iso(consensus.signed_at),
    }


def case_summary_json(case: Case | ListedCase | FileCase) -> dict[str, Any]:
    return {
        "id": case.id,
        "status": case.status,
        "timepoint": case.timepoint,
        "submitted_at": iso(case.submitted_at),
        "due_at": iso(case.due_at),
        "overdue": case.is_overdue(),
        # Due in URGENT_REVIEW_DAYS instead of REVIEW_DAYS.
        "urgent": case.urgent,
        # Restricted: coordinators see it listed (identity masked) and open it by break-glass.
        "restricted": case.restricted,
    }


def window_json(window: AvailabilityWindow) -> dict[str, Any]:
    return {
        "id": window.id,
        "starts_at": iso(window.starts_at),
        "ends_at": iso(window.ends_at),
        "note": window.note,
    }


def routing_json(case: Case | FileCase, needs: Requirements) -> dict[str, Any]:
    """Why each specialty is needed, and what waits on the coordinator (the coordinator's
    view; computed from the case's facts when read)."""
    return {
        "required": [{"specialty": r.specialty.value, "reason": r.reason} for r in needs.required],
        "decisions": [
            {"specialty": d.specialty.value, "reason": d.reason} for d in needs.decisions
        ],
        "removed": [{"specialty": r.specialty.value, "reason": r.reason} for r in needs.removed],
        "added_specialties": case.added_specialties or [],
        "removed_specialties": case.removed_specialties or [],
        "auto_reassign": case.auto_reassign,
    }


def case_json(
    case: Case | FileCase,
    *,
    assignments: Sequence[Assignment | FileAssignment],
    reviews: Sequence[Review | FileReview],
    consensus: Consensus | FileConsensus | None,
    missing_records: list[dict[str, str]],
    record_requests: Sequence[RecordRequest | FileRequest] | None = None,
    disagreements: list[Disagreement] | None = None,
    routing: Requirements | None = None,
    records: Sequence[Record | FileRecord] | None = None,
    events: Sequence[CaseEvent | FileEvent] | None = None,
) -> dict[str, Any]:
    """The case as the API shows it; `records` and `events` from the case file when the
    caller has it, else the case's own."""
    if records is None or events is None:
        assert isinstance(case, Case)  # the case file's row comes with both
        records = case.records if records is None else records
        events = case.events if events is None else events
    return {
        **case_summary_json(case),
        "patient": {
            "name": case.patient_name,
            "birth_date": case.patient_birth_date.isoformat(),
            "mrn": case.patient_mrn,
            "sex": case.patient_sex,
        },
        "question": case.question,
        "requested_specialties": case.requested_specialties,
        "diagnosis": case.diagnosis,
        "stage": case.stage,
        "plan": case.plan,
        "insurance": case.insurance,
        "records": [record_json(r) for r in records],
        "missing_records": missing_records,
        "record_requests": [record_request_json(r) for r in record_requests or []],
        "clock": clock_json(case),
        "assignments": [assignment_json(a) for a in assignments],
        "reviews": [review_json(r) for r in reviews],
        "disagreements": [
            {"specialty": d.specialty, "dimension": d.dimension, "review_ids": list(d.review_ids)}
            for d in disagreements or []
        ],
        "consensus": consensus_json(consensus),
        "routing_note": case.routing_note,
        "routing": routing_json(case, routing) if routing is not None else None,
        # The board's own AJCC 8th groups and where the submitted ones disagree.
        "staging": check_stage(case.stage, case.diagnosis).as_json(),
        "timeline": [
            {"from": e.from_status, "to": e.to_status, "at": iso(e.at), "note": e.note}
            for e in events
        ],
        "reported_at": iso(case.reported_at),
        "acknowledged_at": iso(case.acknowledged_at),
    }


def meeting_json(meeting: Meeting, attendees: list[int] | None = None) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "starts_at": iso(meeting.starts_at),
        "duration_minutes": meeting.duration_minutes,
        "place": meeting.place,
        "video_link": meeting.video_link,
        "expected_specialties": meeting.expected_specialties,
        "status": meeting.status,
        "series_id": meeting.series_id,
        "agenda": [
            {"case_id": item.case_id, "position": item.position}
            for item in sorted(meeting.agenda_items, key=lambda i: (i.position, i.id))
        ],
        **({"attendees": attendees} if attendees is not None else {}),
    }


def follow_up_json(item: FollowUpQuestion) -> dict[str, Any]:
    return {
        "id": item.id,
        "case_id": item.case_id,
        "question": item.question,
        "asked_at": iso(item.asked_at),
        "answer": item.answer,
        "answered_at": iso(item.answered_at),
    }
