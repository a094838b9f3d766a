"""JSON API v1: the same services as the pages, authenticated by bearer token."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import text
from werkzeug.exceptions import BadRequest

from board.api import serializers as ser
from board.api.openapi import openapi_document
from board.auth import services as auth_services
from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings import follow_ups
from board.board_meetings import meetings as board_meetings
from board.board_meetings import services as meetings
from board.board_meetings.report import second_opinion_pdf
from board.board_meetings.schemas import (
    AgendaInput,
    AnswerInput,
    AttendanceInput,
    ConsensusInput,
    FollowUpInput,
    ImplementationInput,
    MeetingInput,
    MoveInput,
    ReorderInput,
)
from board.cases import record_requests
from board.cases import services as cases
from board.cases.schemas import BreakGlassInput, CaseInput, PracticeSharingInput, RestrictedInput
from board.concordance import services as analytics
from board.errors import NotFound, error_response
from board.extensions import db
from board.records import responses as record_responses
from board.reviews import services as reviews
from board.reviews import tie_breaks
from board.reviews.schemas import DeclineInput, ReviewInput, TieBreakInput
from board.routing import services as routing
from board.routing.schemas import (
    AutoReassignInput,
    AvailabilityInput,
    SpecialtyChangeInput,
    UrgencyInput,
)
from board.validation import FieldError, InvalidInput, is_id, parse

bp = Blueprint("api", __name__, url_prefix="/api/v1")

F = TypeVar("F", bound=Callable[..., Any])


def token_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = auth_services.user_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if user is None:
            return error_response(
                401,
                "A valid bearer token is required",
                "POST /api/v1/auth/token with your email and password",
            )
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def caller() -> User:
    return g.api_user  # type: ignore[no-any-return]


def body() -> Any:
    """The JSON body. Unparseable JSON is a 400; a body that is not JSON at all, or
    not an object, is a 422 naming what to send."""
    if not request.is_json:
        raise InvalidInput([FieldError("body", "must be JSON with Content-Type application/json")])
    try:
        data = request.get_json()
    except BadRequest:
        raise BadRequest("The body is not valid JSON; check quotes, commas and brackets") from None
    if not isinstance(data, dict):
        raise InvalidInput([FieldError("body", "must be a JSON object")])
    return data


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/health")
def health() -> tuple[Response, int]:
    from board.health import broker_status

    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:
        db.session.rollback()
        database = "down"
    status = 200 if database == "ok" else 503
    return jsonify({"database": database, "broker": broker_status()}), status


@bp.post("/auth/token")
def token() -> Any:
    data = body()
    errors = [
        FieldError(k, "is required")
        for k in ("username", "password")
        if not isinstance(data.get(k), str) or not data.get(k)
    ]
    if errors:
        raise InvalidInput(errors)
    otp = data.get("otp")
    if otp is not None and not isinstance(otp, str):
        raise InvalidInput([FieldError("otp", "must be a string of 6 digits")])
    try:
        user = auth_services.authenticate(
            data["username"], data["password"], otp, request.remote_addr
        )
    except auth_services.Throttled:
        return error_response(
            429, "Too many failed sign-ins", "Wait a few minutes before trying again"
        )
    if user is None:
        # One answer for every failure (unknown email, wrong password, missing or wrong
        # code, second factor not set up), so none of them can be told apart.
        return error_response(
            401,
            "That email, password and code do not match an active account",
            "Send username, password and otp (the current 6-digit code of your authenticator "
            "app). An account without a second factor yet sets it up by signing in on the web.",
        )
    return jsonify(
        {"token": auth_services.issue_token(user), "token_type": "Bearer", "role": user.role}
    )


def _case_payload(case_id: int) -> dict[str, Any]:
    user = caller()
    found = cases.file_for_viewer(user, case_id)
    case = found.case
    role = Role(user.role)
    visible_assignments = [
        a
        for a in found.assignments
        if role in (Role.COORDINATOR, Role.REFERRER) or a.reviewer_id == user.id
    ]
    # Reviewers judge independently: they see their own review, never a colleague's
    # before the board. The referrer sees them once the second opinion is released.
    released = case.status in ("reported", "acknowledged")
    all_reviews = role is Role.COORDINATOR or (role is Role.REFERRER and released)
    visible_reviews = [r for r in found.reviews if all_reviews or r.reviewer_id == user.id]
    consensus = found.consensus
    if role is not Role.COORDINATOR and not (role is Role.REFERRER and released):
        consensus = None
    return ser.case_json(
        case,
        assignments=visible_assignments,
        reviews=visible_reviews,
        consensus=consensus,
        missing_records=cases.missing_for(case, found.records),
        # The referrer, the coordinator and every reviewer on the case see what was asked.
        record_requests=found.record_requests,
        records=found.records,
        events=found.events,
        # Where the readers of a specialty disagree: the coordinator's to act on (a
        # tie-break); nobody else sees other reviewers' verdicts before the board.
        disagreements=found.disagreements() if role is Role.COORDINATOR else [],
        # The specialties the case needs and why, and what waits on the coordinator.
        routing=found.requirements() if role is Role.COORDINATOR else None,
    )


@bp.post("/cases")
@token_required
def create_case() -> Any:
    data = parse(CaseInput, body())
    case = cases.create_draft(caller(), data)
    # The new draft, as its author just sent it: no assignment, review or consensus yet.
    # Its creation is audited (case_create); answering with it is not a second read.
    return jsonify(
        ser.case_json(
            case,
            assignments=[],
            reviews=[],
            consensus=None,
            missing_records=cases.missing_for(case),
            record_requests=[],
            disagreements=[],
            routing=None,
        )
    ), 201


@bp.get("/cases")
@token_required
def list_cases() -> Any:
    status = request.args.get("status")
    before = _positive("before", None, 2**31 - 1)
    limit = _positive("limit", API_CASE_PAGE_SIZE, cases.MAX_CASE_PAGE_SIZE)
    page = cases.case_page(caller(), status=status, before=before, limit=limit or 1)
    return jsonify(
        {
            "cases": [ser.case_summary_json(c) for c in page.cases],
            "next_before": page.next_before,
        }
    )


API_CASE_PAGE_SIZE = 100


def _positive(name: str, default: int | None, maximum: int) -> int | None:
    """A positive integer query parameter, at most `maximum` (422 otherwise)."""
    value = request.args.get(name)
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= maximum:
        raise InvalidInput([FieldError(name, f"must be a whole number from 1 to {maximum}")])
    return int(value)


@bp.get("/cases/<int:case_id>")
@token_required
def get_case(case_id: int) -> Any:
    return jsonify(_case_payload(case_id))


@bp.put("/cases/<int:case_id>")
@token_required
def update_case(case_id: int) -> Any:
    data = parse(CaseInput, body())
    cases.update_draft(caller(), case_id, data)
    return jsonify(_case_payload(case_id))


@bp.post("/cases/<int:case_id>/records")
@token_required
def upload_record(case_id: int) -> Any:
    upload = request.files.get("file")
    kind = request.form.get("kind", "")
    errors = []
    if not kind:
        errors.append(FieldError("kind", "is required"))
    if upload is None:
        errors.append(FieldError("file", "is required: attach the PDF as multipart field 'file'"))
    if errors:
        raise InvalidInput(errors)
    assert upload is not None
    record = cases.add_record(
        caller(), case_id, kind=kind, filename=upload.filename or "", data=upload.read()
    )
    return jsonify(ser.record_json(record)), 201


@bp.get("/records/<int:record_id>")
@token_required
def download_record(record_id: int) -> Response:
    record, data = cases.record_for_download(caller(), record_id)
    return record_responses.download(record, data)


@bp.post("/cases/<int:case_id>/submit")
@token_required
def submit_case(case_id: int) -> Any:
    case = cases.submit(caller(), case_id)
    return jsonify({"id": case.id, "status": case.status, "due_at": ser.iso(case.due_at)}), 202


@bp.post("/cases/<int:case_id>/withdraw")
@token_required
def withdraw_case(case_id: int) -> Any:
    reason = body().get("reason", "")
    case = cases.withdraw(caller(), case_id, str(reason or ""))
    return jsonify({"id": case.id, "status": case.status})


@bp.get("/assignments")
@token_required
def list_assignments() -> Any:
    return jsonify(
        {"assignments": [ser.assignment_json(a) for a in reviews.assignments_for(caller())]}
    )


@bp.post("/assignments/<int:assignment_id>/accept")
@token_required
def accept_assignment(assignment_id: int) -> Any:
    return jsonify(ser.assignment_json(reviews.accept(caller(), assignment_id)))


@bp.post("/assignments/<int:assignment_id>/decline")
@token_required
def decline_assignment(assignment_id: int) -> Any:
    data = parse(DeclineInput, body())
    return jsonify(ser.assignment_json(reviews.decline(caller(), assignment_id, data.reason)))


@bp.post("/assignments/<int:assignment_id>/review")
@token_required
def review_assignment(assignment_id: int) -> Any:
    data = parse(ReviewInput, body())
    review = reviews.submit_review(caller(), assignment_id, data)
    return jsonify(ser.review_json(review)), 201


@bp.post("/assignments/<int:assignment_id>/records-request")
@token_required
def request_records(assignment_id: int) -> Any:
    data = body()
    request_row = record_requests.request_records(
        caller(), assignment_id, data.get("kinds"), data.get("message")
    )
    return jsonify(ser.record_request_json(request_row)), 201


@bp.post("/record-requests/<int:request_id>/answer")
@token_required
def answer_record_request(request_id: int) -> Any:
    data = body()
    answered = record_requests.answer_request(caller(), request_id, data.get("answer"))
    return jsonify(ser.record_request_json(answered))


@bp.post("/assignments/<int:assignment_id>/reassign")
@token_required
def reassign_assignment(assignment_id: int) -> Any:
    data = request.get_json(silent=True) or {}
    reviewer_id = data.get("reviewer_id") if isinstance(data, dict) else None
    if reviewer_id is not None and not is_id(reviewer_id):
        raise InvalidInput([FieldError("reviewer_id", "must be a whole number (a user id)")])
    assignment = reviews.reassign(caller(), assignment_id, reviewer_id)
    return jsonify(ser.assignment_json(assignment))


@bp.post("/cases/<int:case_id>/assignments")
@token_required
def assign_reviewer(case_id: int) -> Any:
    reviewer_id = body().get("reviewer_id")
    if not is_id(reviewer_id):
        raise InvalidInput([FieldError("reviewer_id", "must be a whole number (a user id)")])
    assignment = reviews.assign_by_hand(caller(), case_id, reviewer_id)
    return jsonify(ser.assignment_json(assignment)), 201


@bp.post("/cases/<int:case_id>/tie-breaks")
@token_required
def request_tie_break(case_id: int) -> Any:
    data = parse(TieBreakInput, body())
    assignment = tie_breaks.request_tie_break(
        caller(), case_id, data.specialty, data.dimension, data.reviewer_id
    )
    return jsonify(ser.assignment_json(assignment)), 201


@bp.post("/cases/<int:case_id>/consensus")
@token_required
def record_consensus(case_id: int) -> Any:
    data = parse(ConsensusInput, body())
    consensus = meetings.record_consensus(caller(), case_id, data)
    return jsonify(ser.consensus_json(consensus)), 201


@bp.post("/cases/<int:case_id>/release")
@token_required
def release(case_id: int) -> Any:
    case = meetings.release(caller(), case_id)
    return jsonify({"id": case.id, "status": case.status, "reported_at": ser.iso(case.reported_at)})


@bp.get("/cases/<int:case_id>/second-opinion.pdf")
@token_required
def second_opinion(case_id: int) -> Response:
    opinion = meetings.second_opinion_for(caller(), case_id, action="second_opinion_download")
    return Response(
        second_opinion_pdf(opinion),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="second-opinion-case-{case_id}.pdf"'},
    )


@bp.post("/cases/<int:case_id>/acknowledge")
@token_required
def acknowledge(case_id: int) -> Any:
    case = meetings.acknowledge(caller(), case_id)
    return jsonify(
        {"id": case.id, "status": case.status, "acknowledged_at": ser.iso(case.acknowledged_at)}
    )


@bp.get("/meetings")
@token_required
def list_meetings() -> Any:
    return jsonify([ser.meeting_json(m) for m in board_meetings.list_meetings(caller())])


@bp.post("/meetings")
@token_required
def create_meeting() -> Any:
    data = parse(MeetingInput, body())
    created = board_meetings.create_meeting(caller(), **data.model_dump())
    return jsonify([ser.meeting_json(m) for m in created]), 201


@bp.post("/meetings/<int:meeting_id>/move")
@token_required
def move_meeting(meeting_id: int) -> Any:
    data = parse(MoveInput, body())
    return jsonify(
        ser.meeting_json(board_meetings.move_meeting(caller(), meeting_id, data.starts_at))
    )


@bp.post("/meetings/<int:meeting_id>/cancel")
@token_required
def cancel_meeting(meeting_id: int) -> Any:
    return jsonify(ser.meeting_json(board_meetings.cancel_meeting(caller(), meeting_id)))


@bp.post("/meetings/<int:meeting_id>/attendance")
@token_required
def meeting_attendance(meeting_id: int) -> Any:
    data = parse(AttendanceInput, body())
    return jsonify(
        {"attendees": board_meetings.set_attendance(caller(), meeting_id, data.user_ids)}
    )


@bp.post("/meetings/<int:meeting_id>/agenda")
@token_required
def add_to_agenda(meeting_id: int) -> Any:
    data = parse(AgendaInput, body())
    item = board_meetings.add_to_agenda(caller(), meeting_id, data.case_id)
    return jsonify(
        {"meeting_id": meeting_id, "case_id": item.case_id, "position": item.position}
    ), 201


@bp.delete("/meetings/<int:meeting_id>/agenda/<int:case_id>")
@token_required
def remove_from_agenda(meeting_id: int, case_id: int) -> Any:
    board_meetings.remove_from_agenda(caller(), meeting_id, case_id)
    return "", 204


@bp.post("/meetings/<int:meeting_id>/agenda/reorder")
@token_required
def reorder_agenda(meeting_id: int) -> Any:
    data = parse(ReorderInput, body())
    return jsonify({"case_ids": board_meetings.reorder_agenda(caller(), meeting_id, data.case_ids)})


@bp.post("/cases/<int:case_id>/follow-ups")
@token_required
def ask_follow_up(case_id: int) -> Any:
    data = parse(FollowUpInput, body())
    return jsonify(ser.follow_up_json(follow_ups.ask(caller(), case_id, data.question))), 201


@bp.post("/follow-ups/<int:question_id>/answer")
@token_required
def answer_follow_up(question_id: int) -> Any:
    data = parse(AnswerInput, body())
    return jsonify(ser.follow_up_json(follow_ups.answer(caller(), question_id, data.answer)))


@bp.post("/cases/<int:case_id>/implementation")
@token_required
def record_implementation(case_id: int) -> Any:
    data = parse(ImplementationInput, body())
    case = follow_ups.record_implementation(caller(), case_id, data.implementation, data.note)
    return jsonify(
        {
            "id": case.id,
            "implementation": case.implementation,
            "implementation_note": case.implementation_note,
            "implementation_recorded_at": ser.iso(case.implementation_recorded_at),
        }
    )


@bp.post("/cases/<int:case_id>/specialties")
@token_required
def change_specialties(case_id: int) -> Any:
    data = parse(SpecialtyChangeInput, body())
    routing.set_specialties(caller(), case_id, add=data.add, remove=data.remove)
    return jsonify(_case_payload(case_id))


@bp.post("/cases/<int:case_id>/urgency")
@token_required
def change_urgency(case_id: int) -> Any:
    data = parse(UrgencyInput, body())
    cases.set_urgent(caller(), case_id, data.urgent)
    return jsonify(_case_payload(case_id))


@bp.post("/cases/<int:case_id>/auto-reassign")
@token_required
def change_auto_reassign(case_id: int) -> Any:
    data = parse(AutoReassignInput, body())
    routing.set_auto_reassign(caller(), case_id, data.on)
    return jsonify(_case_payload(case_id))


@bp.post("/cases/<int:case_id>/restricted")
@token_required
def restrict_case(case_id: int) -> Any:
    data = parse(RestrictedInput, body())
    case = cases.set_restricted(caller(), case_id, data.restricted)
    return jsonify(_case_payload(case.id))


@bp.post("/cases/<int:case_id>/break-glass")
@token_required
def break_glass(case_id: int) -> Any:
    data = parse(BreakGlassInput, body())
    grant = cases.break_glass(caller(), case_id, data.reason)
    return jsonify(
        {
            "case_id": grant.case_id,
            "granted_at": ser.iso(grant.granted_at),
            "expires_at": ser.iso(grant.expires_at),
        }
    ), 201


@bp.post("/institutions/<int:institution_id>/practice-sharing")
@token_required
def practice_sharing(institution_id: int) -> Any:
    data = parse(PracticeSharingInput, body())
    institution = auth_services.set_practice_sharing(caller(), institution_id, data.share)
    return jsonify(
        {
            "id": institution.id,
            "name": institution.name,
            "share_cases_in_practice": institution.share_cases_in_practice,
        }
    )


@bp.get("/availability")
@token_required
def list_availability() -> Any:
    windows = auth_services.windows_for(caller())
    return jsonify({"availability": [ser.window_json(w) for w in windows]})


@bp.post("/availability")
@token_required
def add_availability() -> Any:
    data = parse(AvailabilityInput, body())
    window = auth_services.add_window(caller(), data.starts_at, data.ends_at, data.note)
    return jsonify(ser.window_json(window)), 201


@bp.delete("/availability/<int:window_id>")
@token_required
def remove_availability(window_id: int) -> Any:
    auth_services.remove_window(caller(), window_id)
    return "", 204


@bp.get("/analytics")
@token_required
def analytics_dashboard() -> Any:
    """Coordinator and administrator: the analytics figures for a selection."""
    figures = analytics.dashboard(caller(), analytics.parse_filters(request.args))
    return jsonify(analytics.to_json(figures))


@bp.errorhandler(404)
@bp.errorhandler(405)
def _api_http(exc: Any) -> Any:
    # A 404 reads like a denied or missing object's: nothing tells the two apart.
    return error_response(exc.code, "Not found" if exc.code == 404 else exc.name)


__all__ = ["NotFound", "bp"]
