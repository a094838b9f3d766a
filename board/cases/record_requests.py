"""Reviewers ask the referrer for more records; the case waits and its clock pauses.

A request puts the case in `awaiting_records` and stops the service-level clock
(`Case.paused_at`). Each request closes when every kind it asks for has been
uploaded after it was made, or when the referrer answers it in words ("no MRI was
done"). When the last open request of a case closes, the clock resumes: the time
spent waiting is added to the case's and its open assignments' due dates, and the
case goes back to the status its reviews imply. Owns its transactions.

Notifications carry the case number, the record kinds and the reviewer's
specialty, never the reviewer's free-text message (it may name the patient) nor
the reviewer's name: the referrer answers through the board, not the reviewer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import joinedload

from board.audit import services as audit
from board.auth.models import User
from board.auth.roles import ROLE_LABEL, Role
from board.cases.models import Case, Record, RecordRequest
from board.cases.rules import RECORD_LABEL, REVIEW_PHASE, CaseStatus, RecordKind
from board.cases.services import transition
from board.db import utcnow
from board.errors import Conflict, NotFound
from board.extensions import db
from board.notifications import keys
from board.notifications.services import notify, notify_coordinators
from board.outbox import services as outbox
from board.reviews.models import OPEN_ASSIGNMENT, Assignment
from board.routing.services import refresh_status
from board.transactions import atomic
from board.validation import FieldError, InvalidInput

MESSAGE_MAX = 4000


def _labels(kinds: Sequence[str]) -> str:
    return ", ".join(RECORD_LABEL[RecordKind(k)] for k in kinds)


def _valid_kinds(kinds: object) -> tuple[list[str], list[FieldError]]:
    allowed = ", ".join(k.value for k in RecordKind)
    if kinds is None or kinds == []:
        return [], [FieldError("kinds", f"is required: name at least one of {allowed}")]
    if not isinstance(kinds, list):
        return [], [FieldError("kinds", f"must be a list of record kinds ({allowed})")]
    errors = []
    chosen: list[str] = []
    for index, kind in enumerate(kinds):
        if not isinstance(kind, str) or kind not in RecordKind.__members__.values():
            errors.append(
                FieldError(f"kinds.{index}", f"{kind!r} is not a record kind; use one of {allowed}")
            )
        elif kind not in chosen:
            chosen.append(kind)
    return chosen, errors


def _valid_message(message: object, field: str, what: str) -> tuple[str, list[FieldError]]:
    if not isinstance(message, str) or not message.strip():
        return "", [FieldError(field, f"is required: {what}")]
    if len(message.strip()) > MESSAGE_MAX:
        return "", [FieldError(field, f"must be at most {MESSAGE_MAX} characters")]
    return message.strip(), []


def _lock_case(case_id: int) -> Case:
    """Locks the case's open assignments, then the case (the order submit_review
    takes them in), so a resume and a signature cannot deadlock."""
    db.session.scalars(
        select(Assignment.id)
        .where(Assignment.case_id == case_id, Assignment.status.in_(OPEN_ASSIGNMENT))
        .order_by(Assignment.id)
        .with_for_update()
    ).all()
    case = db.session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None:
        raise NotFound()
    return case


def _reviewer_label(reviewer: User) -> str:
    """The reviewer's specialty in words ("breast pathologist"), never their name."""
    return ROLE_LABEL[Role(reviewer.role)].lower()


def _open_requests(case_id: int) -> list[RecordRequest]:
    return list(
        db.session.scalars(
            select(RecordRequest)
            .where(RecordRequest.case_id == case_id, RecordRequest.closed_at.is_(None))
            .order_by(RecordRequest.id)
        )
    )


def _open_assignments(case_id: int) -> list[Assignment]:
    return list(
        db.session.scalars(
            select(Assignment)
            .where(Assignment.case_id == case_id, Assignment.status.in_(OPEN_ASSIGNMENT))
            .order_by(Assignment.id)
        )
    )


@atomic
def request_records(
    reviewer: User, assignment_id: int, kinds: object, message: object
) -> RecordRequest:
    """A reviewer with an open assignment asks the referrer for records."""
    assignment = db.session.get(Assignment, assignment_id, with_for_update=True)
    if assignment is None or assignment.reviewer_id != reviewer.id:
        raise NotFound()
    chosen, errors = _valid_kinds(kinds)
    text, message_errors = _valid_message(
        message, "message", "say what you need and why, so the referrer can find it"
    )
    if errors or message_errors:
        raise InvalidInput(errors + message_errors)
    if assignment.status not in OPEN_ASSIGNMENT:
        raise Conflict(
            f"This assignment is {assignment.status}; only an open assignment can ask for records"
        )
    case = _lock_case(assignment.case_id)
    status = case.status_enum
    if status not in REVIEW_PHASE and status is not CaseStatus.AWAITING_RECORDS:
        raise Conflict(f"The case is {case.status}; records can no longer be requested")
    now = utcnow()
    request = RecordRequest(
        case_id=case.id,
        assignment_id=assignment.id,
        requested_by_id=reviewer.id,
        kinds=chosen,
        message=text,
        created_at=now,
    )
    db.session.add(request)
    if case.paused_at is None:
        case.paused_at = now
    transition(case, CaseStatus.AWAITING_RECORDS, actor=reviewer, note=f"asked: {_labels(chosen)}")
    db.session.flush()
    who = _reviewer_label(reviewer)
    notify(
        case.referrer_id,
        kind="records_requested",
        case_id=case.id,
        key=keys.records_requested(request.id),
        message=f"The {who} reviewing case #{case.id} asks for: {_labels(chosen)}. "
        "Upload them on the case, or answer the request if they do not exist. "
        "The case's clock is paused until then.",
    )
    notify_coordinators(
        kind="records_requested",
        case_id=case.id,
        key=keys.records_requested(request.id),
        message=f"Case #{case.id} awaits records ({_labels(chosen)}) asked for by the "
        f"{who}; its clock is paused.",
    )
    audit.record(
        "record_request",
        actor=reviewer,
        case_id=case.id,
        object_type="record_request",
        object_id=request.id,
    )
    db.session.commit()
    return request


@atomic
def answer_request(referrer: User, request_id: int, answer: object) -> RecordRequest:
    """The referrer closes a request in words, without (all) the records asked for."""
    request = db.session.get(RecordRequest, request_id)
    case = db.session.get(Case, request.case_id) if request is not None else None
    if request is None or case is None or case.referrer_id != referrer.id:
        raise NotFound()
    text, errors = _valid_message(
        answer, "answer", "say why the records cannot be sent (e.g. no MRI was done)"
    )
    if errors:
        raise InvalidInput(errors)
    case = _lock_case(case.id)
    db.session.refresh(request)
    if request.closed_at is not None:
        raise Conflict("This request is already closed")
    if case.status_enum is not CaseStatus.AWAITING_RECORDS:
        raise Conflict(f"The case is {case.status}; its requests can no longer be answered")
    request.answer = text
    _close(case, [request], actor=referrer)
    db.session.commit()
    return request


def records_added(case: Case, *, actor: User) -> None:
    """After an upload: closes every open request whose kinds have all been uploaded
    since it was made. Caller commits (the upload and the closing go together)."""
    case = _lock_case(case.id)
    if case.status_enum is not CaseStatus.AWAITING_RECORDS:
        return
    uploads = db.session.execute(
        select(Record.kind, Record.uploaded_at).where(Record.case_id == case.id)
    ).all()
    answered = [
        request
        for request in _open_requests(case.id)
        if all(
            any(kind == k and at >= request.created_at for k, at in uploads)
            for kind in request.kinds
        )
    ]
    if answered:
        _close(case, answered, actor=actor)


def _close(case: Case, requests: list[RecordRequest], *, actor: User) -> None:
    now = utcnow()
    for request in requests:
        request.closed_at = now
        audit.record(
            "record_request_close",
            actor=actor,
            case_id=case.id,
            object_type="record_request",
            object_id=request.id,
        )
    db.session.flush()
    if _open_requests(case.id):
        for request in requests:
            if _is_open_for(request.requested_by_id, case.id):
                notify(
                    request.requested_by_id,
                    kind="records_arrived",
                    case_id=case.id,
                    key=keys.records_arrived(request.id),
                    message=f"The referrer answered your records request on case #{case.id}. "
                    "The case still waits on another reviewer's request.",
                )
        return
    _resume(case, now, actor=actor)


def withdraw_requests_of(assignment: Assignment, *, actor: User) -> None:
    """The reviewer who asked left the case (declined or reassigned): their open
    requests close, and the clock runs again if nothing else is awaited. Caller commits."""
    mine = [r for r in _open_requests(assignment.case_id) if r.assignment_id == assignment.id]
    if not mine:
        return
    for request in mine:
        request.answer = "Withdrawn: the reviewer who asked is no longer on the case."
    _close(_lock_case(assignment.case_id), mine, actor=actor)


def _is_open_for(reviewer_id: int, case_id: int) -> bool:
    return any(a.reviewer_id == reviewer_id for a in _open_assignments(case_id))


def _resume(case: Case, now: dt.datetime, *, actor: User) -> None:
    """The last request closed: the waiting time is added to every due date and the
    case returns to the status its reviews imply."""
    assert case.paused_at is not None
    pause = now - case.paused_at
    case.paused_seconds = (case.paused_seconds or 0) + round(pause.total_seconds())
    if case.due_at is not None:
        case.due_at += pause
    open_assignments = _open_assignments(case.id)
    for assignment in open_assignments:
        assignment.due_at += pause
    case.paused_at = None
    refresh_status(case, actor=actor)
    if case.status_enum is CaseStatus.UNROUTABLE:
        # A reviewer may have declined while the case waited, when routing could not
        # run; routing fills the specialty now (it is idempotent).
        outbox.enqueue("routing.route_case", case_id=case.id)
    for assignment in open_assignments:
        notify(
            assignment.reviewer_id,
            kind="records_arrived",
            case_id=case.id,
            key=keys.clock_resumed(case.id, now),
            message=f"The records asked for on case #{case.id} have arrived or been answered; "
            f"the clock runs again and your review is due {assignment.due_at:%Y-%m-%d %H:%M} "
            "UTC.",
        )
    audit.record(
        "case_clock_resume", actor=actor, case_id=case.id, object_type="case", object_id=case.id
    )


def requests_for_case(case_id: int) -> list[RecordRequest]:
    """Every request on a case, oldest first. Callers have already authorised the
    viewer (case_for_viewer) and audited the read."""
    return list(
        db.session.scalars(
            select(RecordRequest)
            .where(RecordRequest.case_id == case_id)
            # Joined, not lazy: one statement however many reviewers asked.
            .options(joinedload(RecordRequest.requested_by))
            .order_by(RecordRequest.id)
        )
    )
