"""Case intake: drafts, records, submission, the timeline. Owns its transactions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple, Protocol, TypeVar, cast

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from board import outbox
from board.audit import actions
from board.audit import services as audit
from board.auth import policy
from board.auth.models import BreakGlassGrant, Institution, User
from board.auth.roles import Role
from board.cases import case_file
from board.cases.models import Case, CaseEvent, Record, case_is_overdue
from board.cases.rules import (
    RECORD_LABEL,
    REVIEWS_OPEN,
    CaseStatus,
    RecordKind,
    Timepoint,
    can_transition,
    missing_records,
)
from board.cases.schemas import CaseInput
from board.db import utcnow
from board.errors import BreakGlassRequired, Conflict, IncompleteCase, NotFound, RecordUnavailable
from board.extensions import db
from board.notifications import keys
from board.notifications.services import notify, notify_coordinators
from board.transactions import atomic, keep_loaded
from board.validation import FieldError, InvalidInput


def transition(case: Case, to: CaseStatus, *, actor: User | None, note: str | None = None) -> None:
    """Moves a case along its lifecycle and writes the timeline. Caller commits."""
    current = case.status_enum
    if current is to:
        return
    if not can_transition(current, to):
        raise Conflict(f"A case that is {current.value} cannot become {to.value}")
    case.status = to.value
    db.session.add(
        CaseEvent(
            case_id=case.id,
            from_status=current.value,
            to_status=to.value,
            actor_id=actor.id if actor else None,
            note=note,
        )
    )


def _check_sources(case: Case, data: CaseInput) -> None:
    """A fact's source must be one of this case's own records: an id from another case
    would point a reviewer at another patient's document (and a new case has none yet)."""
    own = {record.id for record in case.records}
    errors = [
        FieldError(f"{part}.sources.{field}", "is not one of this case's records")
        for part in ("diagnosis", "stage", "plan")
        for field, record_id in (getattr(data, part).sources or {}).items()
        if record_id not in own
    ]
    if errors:
        raise InvalidInput(errors)


def _apply(case: Case, data: CaseInput) -> None:
    _check_sources(case, data)
    case.timepoint = data.timepoint
    case.question = data.question
    case.requested_specialties = list(data.requested_specialties)
    case.patient_name = data.patient.name
    case.patient_birth_date = data.patient.birth_date
    case.patient_mrn = data.patient.mrn
    case.patient_sex = data.patient.sex
    case.diagnosis = data.diagnosis.model_dump(mode="json", exclude_none=True)
    case.stage = data.stage.model_dump(mode="json", exclude_none=True)
    case.plan = data.plan.model_dump(mode="json", exclude_none=True)
    case.insurance = data.insurance.model_dump(mode="json")
    case.urgent = data.urgent


def create_draft(referrer: User, data: CaseInput) -> Case:
    """The new draft, committed, as inserted: its columns, its empty records and its one
    timeline entry stay loaded (nothing else can have written a case created in this
    transaction), so answering with it reads nothing back."""
    case = new_draft(referrer, data)
    with keep_loaded():
        db.session.commit()
    return case


def new_draft(referrer: User, data: CaseInput) -> Case:
    """The draft, its timeline entry and audit row, flushed but not committed: for a
    service that creates more in the same transaction (the FHIR import)."""
    # Another role gets a 404, like every role-only action (board/auth/policy.py).
    policy.require_role(referrer, Role.REFERRER)
    case = Case(referrer_id=referrer.id, institution_id=referrer.institution_id)
    _apply(case, data)
    # Through the relationships: the new case's collections are known (no records, one
    # timeline entry) without a query.
    case.records = []
    case.events = [CaseEvent(to_status=CaseStatus.DRAFT.value, actor_id=referrer.id)]
    db.session.add(case)
    db.session.flush()
    audit.record(
        "case_create", actor=referrer, case_id=case.id, object_type="case", object_id=case.id
    )
    return case


def update_draft(user: User, case_id: int, data: CaseInput) -> Case:
    case = case_for_edit(user, case_id)
    _apply(case, data)
    audit.record("case_update", actor=user, case_id=case.id, object_type="case", object_id=case.id)
    db.session.commit()
    return case


def case_for_edit(user: User, case_id: int, *, awaiting_records_ok: bool = False) -> Case:
    """The referrer's own draft; with `awaiting_records_ok`, also their case while it
    awaits records a reviewer asked for (uploads only: the fields stay as submitted)."""
    case = db.session.get(Case, case_id)
    if case is None or not policy.can_edit_draft(
        user_id=user.id, role=Role(user.role), referrer_id=case.referrer_id
    ):
        raise NotFound()
    if awaiting_records_ok and case.status_enum is CaseStatus.AWAITING_RECORDS:
        return case
    if case.status_enum is not CaseStatus.DRAFT:
        if awaiting_records_ok:
            raise Conflict(
                "Records can be added to a draft, or while the case awaits records a reviewer "
                f"asked for; this case is {case.status}"
            )
        raise Conflict("Only a draft can be changed; this case was already submitted")
    return case


def assigned_reviewer_ids(case_id: int) -> set[int]:
    from board.reviews.models import ACTIVE_ASSIGNMENT, Assignment

    return set(
        db.session.scalars(
            select(Assignment.reviewer_id).where(
                Assignment.case_id == case_id, Assignment.status.in_(ACTIVE_ASSIGNMENT)
            )
        )
    )


def can_view(user: User, case: Case) -> bool:
    return policy.access_to(user, case) is policy.Access.FULL


def visible_case(user: User, case_id: int) -> Case | None:
    """The case if this user may see it, else None. Not audited: see audit_access()."""
    case = db.session.get(Case, case_id)
    return case if case is not None and can_view(user, case) else None


def audit_access(
    user: User,
    action: str,
    case_id: int,
    case: CaseT | None,
    *,
    object_type: str = "case",
    object_id: int | None = None,
) -> CaseT:
    """Writes the one audit row of a read: ok with the case, or denied (then NotFound,
    and the row names the object asked for, not a case the user may not know)."""
    if case is None:
        audit.record(
            action,
            actor=user,
            object_type=object_type,
            object_id=case_id if object_id is None else object_id,
            outcome="denied",
        )
        db.session.commit()
        raise NotFound()
    audit.record_read(
        action,
        actor=user,
        case_id=case.id,
        object_type=object_type,
        object_id=case.id if object_id is None else object_id,
    )
    return case


def case_for_viewer(
    user: User,
    case_id: int,
    *,
    audit_action: str = "case_view",
    object_type: str = "case",
    object_id: int | None = None,
) -> Case:
    """The case if this user may see it (audited), else NotFound (audited as denied);
    a restricted case without a break-glass grant: BreakGlassRequired (audited). Its
    referrer and institution come in the same statement: every case page names them."""
    case = db.session.get(
        Case, case_id, options=[joinedload(Case.referrer), joinedload(Case.institution)]
    )
    return _viewed(user, case_id, case, audit_action, object_type, object_id)


def file_for_viewer(user: User, case_id: int) -> case_file.CaseFile:
    """The case file (the case's row and all the API's JSON shows of it, one statement,
    no ORM objects) if this user may see it; audited and refused as case_for_viewer."""
    found = case_file.load_by_id(case_id)
    row = cast(case_file.FileCase, found.case) if found is not None else None
    _viewed(user, case_id, row, "case_view", "case", None)
    assert found is not None  # _viewed raised otherwise
    return found


def _viewed(
    user: User,
    case_id: int,
    case: CaseT | None,
    audit_action: str,
    object_type: str,
    object_id: int | None,
) -> CaseT:
    """The one decision and audit row of a case read (case_for_viewer, file_for_viewer)."""
    access = policy.access_to(user, case) if case is not None else policy.Access.NONE
    if case is not None and access is policy.Access.BREAK_GLASS:
        # The coordinator knows the case exists (it is listed, masked): the row names it.
        audit.record(
            audit_action,
            actor=user,
            case_id=case.id,
            object_type=object_type,
            object_id=case.id if object_id is None else object_id,
            outcome="denied",
        )
        db.session.commit()
        raise BreakGlassRequired(case.id)
    return audit_access(
        user,
        audit_action,
        case_id,
        case if access is policy.Access.FULL else None,
        object_type=object_type,
        object_id=object_id,
    )


def record_draft_read(user: User, case: Case) -> None:
    """The referrer opened their draft's form: a read of the patient's data."""
    audit.record("case_view", actor=user, case_id=case.id, object_type="case", object_id=case.id)
    db.session.commit()


# Case lists show a page at a time, newest first: a board keeps years of cases.
CASE_PAGE_SIZE = 50
MAX_CASE_PAGE_SIZE = 500


# A case as read: the ORM row, or the case file's (board/cases/case_file.py FileCase).
CaseT = TypeVar("CaseT", Case, case_file.FileCase)


class HasKind(Protocol):
    @property
    def kind(self) -> str: ...


# The columns a list of cases shows (templates/cases/dashboard.html, my_cases.html,
# serializers.case_summary_json).
LISTED_COLUMNS = (
    Case.id,
    Case.referrer_id,
    Case.institution_id,
    Case.status,
    Case.timepoint,
    Case.patient_name,
    Case.patient_mrn,
    Case.urgent,
    Case.restricted,
    Case.routing_note,
    Case.submitted_at,
    Case.due_at,
    Case.paused_at,
)


class ListedCase(NamedTuple):
    """A case as a list shows it: LISTED_COLUMNS and the institution's name, read as a
    plain row (a list of fifty cases builds no ORM objects; a named tuple is the cheapest
    object a row becomes)."""

    id: int
    referrer_id: int
    institution_id: int
    status: str
    timepoint: str
    patient_name: str
    patient_mrn: str
    urgent: bool
    restricted: bool
    routing_note: str | None
    submitted_at: dt.datetime | None
    due_at: dt.datetime | None
    paused_at: dt.datetime | None
    institution_name: str

    @property
    def status_enum(self) -> CaseStatus:
        return CaseStatus(self.status)

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return case_is_overdue(self.status, self.due_at, self.paused_at, now)


@dataclass(frozen=True)
class CasePage:
    cases: list[ListedCase]
    # The `before` of the next (older) page; None on the last page.
    next_before: int | None


def case_page(
    user: User,
    *,
    status: str | None = None,
    before: int | None = None,
    limit: int = CASE_PAGE_SIZE,
    record: bool = True,
) -> CasePage:
    """A page of the cases a user's case list shows (referrers their own, coordinators
    all), newest first, by keyset: the cases with an id below `before`. `record=False`
    for a second list on the same page (its read is audited once)."""
    # Only what the lists show (the dashboard, the referrer's cases, the API's case
    # list), as plain rows: not each case's structured opinion, no ORM objects.
    query = (
        select(*LISTED_COLUMNS, Institution.name.label("institution_name"))
        .join(Institution, Institution.id == Case.institution_id)
        .order_by(Case.id.desc())
    )
    role = Role(user.role)
    if role is Role.REFERRER:
        viewer = policy.viewer_of(user)
        if viewer.shares_practice:
            query = query.where(
                (Case.referrer_id == user.id) | (Case.institution_id == user.institution_id)
            )
        else:
            query = query.where(Case.referrer_id == user.id)
    elif role is not Role.COORDINATOR:
        return CasePage([], None)
    if status:
        query = query.where(Case.status == status)
    if before is not None:
        query = query.where(Case.id < before)
    if record:
        audit.record_read("case_list", actor=user, object_type="case_list")
    found = [ListedCase._make(row) for row in db.session.execute(query.limit(limit + 1))]
    more = len(found) > limit
    shown = found[:limit]
    return CasePage(shown, shown[-1].id if more and shown else None)


@atomic
def add_record(user: User, case_id: int, *, kind: str, filename: str | None, data: bytes) -> Record:
    """The referrer uploads a record to their draft (or to their case awaiting records).
    The checks, the encrypted file and the row: board.records.services.attach_record."""
    case = case_for_edit(user, case_id, awaiting_records_ok=True)
    record = attach_record(user, case, kind=kind, filename=filename, data=data)
    if case.status_enum is CaseStatus.AWAITING_RECORDS:
        # Imported here: record_requests builds on routing, which builds on this module.
        from board.cases import record_requests

        record_requests.records_added(case, actor=user)
    db.session.commit()
    return record


def attach_record(
    user: User, case: Case, *, kind: str, filename: str | None, data: bytes
) -> Record:
    """Checks the upload (a real PDF of a known kind), seals it in the record store and
    adds it to the case with its audit row; flushed, not committed (the caller owns the
    transaction: the FHIR import adds several records and the case at once)."""
    from board.records import services as record_store

    record = record_store.attach_record(
        case, uploaded_by=user, kind=kind, filename=filename, data=data
    )
    audit.record(
        "record_upload", actor=user, case_id=case.id, object_type="record", object_id=record.id
    )
    return record


def remove_record(user: User, case_id: int, record_id: int) -> None:
    from board.records import services as record_store

    case = case_for_edit(user, case_id)
    record = db.session.get(Record, record_id)
    if record is None or record.case_id != case.id:
        raise NotFound()
    audit.record(
        "record_delete", actor=user, case_id=case.id, object_type="record", object_id=record.id
    )
    storage_key = record.storage_key
    db.session.delete(record)
    db.session.commit()
    # Only once the row is gone: a failed commit must not leave a row without its file.
    record_store.discard_file(storage_key)


def record_for_download(user: User, record_id: int) -> tuple[Record, bytes]:
    """The record and its bytes, checked against the SHA-256 taken at upload. One audit
    row: ok, denied (and NotFound), or failed (RecordUnavailable, coordinators told)."""
    from board.records import services as record_store

    record = db.session.get(Record, record_id)
    if record is None:
        raise NotFound()
    case = db.session.get(Case, record.case_id)
    if case is None or not can_view(user, case):
        case_for_viewer(  # raises, with the one audit row (denied) naming the record
            user,
            record.case_id,
            audit_action="record_download",
            object_type="record",
            object_id=record.id,
        )
        raise NotFound()
    try:
        data = record_store.read_bytes(record)
    except RecordUnavailable as exc:
        db.session.rollback()
        audit.record(
            "record_download",
            actor=user,
            case_id=record.case_id,
            object_type="record",
            object_id=record.id,
            outcome="failed",
        )
        notify_coordinators(
            kind="record_integrity",
            message=f"Record #{exc.record_id} of case #{record.case_id} failed its integrity "
            f"check on download (its stored file is {exc.problem}). Run `flask records "
            "verify` and restore it from backup, or ask the referrer to upload it again.",
            case_id=record.case_id,
            key=keys.record_integrity(exc.record_id, exc.problem),
        )
        db.session.commit()
        raise
    audit.record(
        "record_download",
        actor=user,
        case_id=record.case_id,
        object_type="record",
        object_id=record.id,
    )
    db.session.commit()
    return record, data


def missing_for(
    case: Case | case_file.FileCase, records: Iterable[HasKind] | None = None
) -> list[dict[str, str]]:
    """The records the case's timepoint requires that it lacks; `records`: the case's
    records when the caller has them already (the case file), else the case's own."""
    if records is None:
        assert isinstance(case, Case)  # the case file's row comes with its records
        records = case.records
    present = [RecordKind(r.kind) for r in records]
    return [
        {
            "kind": req.kind.value,
            "message": f"{RECORD_LABEL[req.kind]} is missing: {req.reason}",
        }
        for req in missing_records(Timepoint(case.timepoint), present)
    ]


def submit(user: User, case_id: int) -> Case:
    """A complete draft becomes `submitted` and its routing is queued in the same
    transaction (the outbox), so a crash can delay routing but never lose it."""
    case = case_for_edit(user, case_id)
    missing = missing_for(case)
    if missing:
        raise IncompleteCase(missing)
    now = utcnow()
    case.submitted_at = now
    case.due_at = _due(case)
    transition(case, CaseStatus.SUBMITTED, actor=user)
    outbox.services.enqueue("routing.route_case", case_id=case.id)
    audit.record("case_submit", actor=user, case_id=case.id, object_type="case", object_id=case.id)
    db.session.commit()
    return case


def _due(case: Case) -> dt.datetime:
    """The service level from a complete submission: REVIEW_DAYS, or URGENT_REVIEW_DAYS
    for an urgent case, plus the time the clock stood still awaiting records."""
    assert case.submitted_at is not None
    days = current_app.config["URGENT_REVIEW_DAYS" if case.urgent else "REVIEW_DAYS"]
    return case.submitted_at + dt.timedelta(days=days, seconds=case.paused_seconds or 0)


# While the second opinion is still being worked on, its due date can move.
_DUE_DATE_OPEN = REVIEWS_OPEN | {CaseStatus.CONSENSUS}


def set_urgent(coordinator: User, case_id: int, urgent: bool) -> Case:
    """The coordinator marks a submitted case urgent or not: its due date is worked out
    again from the submission, and every open assignment is due then too."""
    # Imported here: the reviews models build on the case models.
    from board.reviews.models import OPEN_ASSIGNMENT, Assignment

    case = policy.check_coordinated_case(
        coordinator, db.session.get(Case, case_id, with_for_update=True)
    )
    if case.status_enum not in _DUE_DATE_OPEN:
        raise Conflict(
            f"The case is {case.status}; urgency can change only between submission and "
            "the second opinion's release"
        )
    if case.urgent == urgent:
        db.session.commit()  # nothing to change; releases the row lock
        return case
    case.urgent = urgent
    case.due_at = _due(case)
    open_assignments = db.session.scalars(
        select(Assignment)
        .where(Assignment.case_id == case.id, Assignment.status.in_(OPEN_ASSIGNMENT))
        .with_for_update()
    ).all()
    for assignment in open_assignments:
        assignment.due_at = case.due_at
        notify(
            assignment.reviewer_id,
            kind="due_date_changed",
            key=keys.due_date_changed(assignment.id, case.due_at),
            case_id=case.id,
            message=f"Case #{case.id} is {'now' if urgent else 'no longer'} urgent: "
            f"your review is due {case.due_at:%Y-%m-%d %H:%M} UTC.",
        )
    audit.record(
        "case_urgency", actor=coordinator, case_id=case.id, object_type="case", object_id=case.id
    )
    db.session.commit()
    return case


def withdraw(user: User, case_id: int, reason: str) -> Case:
    case = db.session.get(Case, case_id)
    role = Role(user.role)
    if case is None or not (
        policy.can_edit_draft(user_id=user.id, role=role, referrer_id=case.referrer_id)
        or policy.can_coordinate(role)
    ):
        raise NotFound()
    if policy.can_coordinate(role):
        policy.check_coordinated_case(user, case)
    if not reason.strip():
        raise InvalidInput([FieldError("reason", "is required to withdraw a case")])
    transition(case, CaseStatus.WITHDRAWN, actor=user, note=reason.strip())
    audit.record(
        "case_withdraw", actor=user, case_id=case.id, object_type="case", object_id=case.id
    )
    db.session.commit()
    return case


# --- Restricted cases and break-glass (board/auth/policy.py) ----------------------------


def set_restricted(referrer: User, case_id: int, restricted: bool) -> Case:
    """The submitting referrer marks their case restricted (or not): a staff member or
    a public figure. Coordinators then see it masked and open it only by break-glass."""
    case = db.session.get(Case, case_id, with_for_update=True)
    if case is None or not policy.can_mark_restricted(
        user_id=referrer.id, role=Role(referrer.role), referrer_id=case.referrer_id
    ):
        raise NotFound()
    if case.restricted != restricted:
        case.restricted = restricted
        audit.record(
            "case.restrict" if restricted else "case.unrestrict",
            actor=referrer,
            case_id=case.id,
            object_type="case",
            object_id=case.id,
        )
    db.session.commit()
    return case


def restricted_case(coordinator: User, case_id: int) -> Case:
    """The case a coordinator is about to break the glass on (no content is shown)."""
    if not policy.can_break_glass(Role(coordinator.role)):
        raise NotFound()
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound()
    return case


def break_glass(coordinator: User, case_id: int, reason: str) -> BreakGlassGrant:
    """A coordinator opens a restricted case with a written reason: access to that case
    for BREAK_GLASS_MINUTES, audited at high severity, and the coordinators' team told."""
    if not policy.can_break_glass(Role(coordinator.role)):
        raise NotFound()
    case = db.session.get(Case, case_id)
    if case is None:
        raise NotFound()
    text = (reason or "").strip()
    least = current_app.config["BREAK_GLASS_MIN_REASON"]
    if len(text) < least:
        raise InvalidInput(
            [
                FieldError(
                    "reason",
                    f"must say why you need this case, in at least {least} characters",
                )
            ]
        )
    if not case.restricted:
        raise Conflict("This case is not restricted; open it as usual")
    now = utcnow()
    grant = BreakGlassGrant(
        user_id=coordinator.id,
        case_id=case.id,
        reason=text,
        granted_at=now,
        expires_at=now + dt.timedelta(minutes=current_app.config["BREAK_GLASS_MINUTES"]),
    )
    db.session.add(grant)
    db.session.flush()
    audit.record(
        actions.BREAK_GLASS,
        actor=coordinator,
        case_id=case.id,
        object_type="break_glass_grant",
        object_id=grant.id,
        severity="high",
    )
    # The team sees who opened which case; the reason stays in the grant (it may name
    # the patient), never in a notification or an email.
    notify_coordinators(
        kind="break_glass",
        case_id=case.id,
        key=keys.break_glass(grant.id),
        message=f"{coordinator.name} opened restricted case #{case.id} by break-glass "
        f"until {grant.expires_at:%Y-%m-%d %H:%M} UTC.",
    )
    db.session.commit()
    return grant
