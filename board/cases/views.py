"""Pages of case intake (the referrer) and the coordinator's dashboard and case page.

Views are HTTP only: read the form, call a service, render. Visibility is the
services' job (a case the user may not see raises NotFound, shown as a 404).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, current_app, flash, render_template, request
from flask.blueprints import BlueprintSetupState
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.models import User
from board.auth.roles import SPECIALTY_LABEL, Role, Specialty
from board.cases import case_file, record_requests
from board.cases import dashboard as dashboard_widgets
from board.cases import services as cases
from board.cases.models import Case
from board.cases.rules import (
    RECORD_LABEL,
    REVIEW_PHASE,
    REVIEWS_OPEN,
    CaseStatus,
    RecordKind,
    can_transition,
)
from board.cases.schemas import CaseInput
from board.errors import Conflict, IncompleteCase, NotFound
from board.records import responses as record_responses
from board.reviews import services as reviews
from board.reviews import tie_breaks
from board.reviews.models import ACTIVE_ASSIGNMENT, Purpose
from board.routing import services as routing
from board.routing.schemas import SpecialtyChangeInput
from board.routing.services import Candidate, Staffing
from board.validation import FieldError, InvalidInput, parse
from board.web import (
    CHOICES,
    SOURCED_FIELDS,
    Page,
    back_to,
    compact_rows,
    errors_by_field,
    flatten,
    form_data,
    id_arg,
    me,
    record_choices,
    require_role,
    row_count,
    see_other,
    template_helpers,
)

bp = Blueprint("cases", __name__)


@bp.record_once
def _template_helpers(state: BlueprintSetupState) -> None:
    # Globals rather than a context processor: the macros that show a case are
    # imported without context (templates/_clinical.html, reviews/_review.html),
    # and the second opinion's PDF is rendered outside these views.
    state.app.jinja_env.globals.update(template_helpers())


# --- The referrer: case list, the case form ----------------------------------------


@bp.get("/cases")
@login_required
def my_cases() -> str:
    user = require_role(Role.REFERRER)
    before = id_arg("before")
    page = cases.case_page(user, before=before)
    return render_template(
        "cases/my_cases.html", cases=page.cases, next_before=page.next_before, before=before
    )


# Blank medication rows the form offers beyond the filled ones (more with "Add a row").
BLANK_MEDICATION_ROWS = 2
MIN_MEDICATION_ROWS = 3


def _case_form(
    values: MultiDict[str, str], errors: dict[str, str], case: Case | None, status: int = 200
) -> Page:
    filled = row_count(values, "plan.medications")
    page = render_template(
        "cases/form.html",
        values=values,
        errors=errors,
        case=case,
        choices=CHOICES,
        # The source selects: only a draft with records has something to point at.
        records=record_choices(case),
        sourced=SOURCED_FIELDS,
        medication_rows=max(MIN_MEDICATION_ROWS, filled + BLANK_MEDICATION_ROWS),
    )
    return (page, status) if status != 200 else page


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new_case() -> Page | Response:
    user = require_role(Role.REFERRER)
    if request.method == "GET":
        return _case_form(MultiDict(), {}, None)
    form = compact_rows(request.form)
    try:
        case = cases.create_draft(user, parse(CaseInput, form_data(CaseInput, form)))
    except InvalidInput as exc:
        return _case_form(form, errors_by_field(exc.errors), None, 422)
    flash(f"Case #{case.id} is saved as a draft. Add its records, then submit it.", "success")
    return see_other("cases.detail", case_id=case.id)


def _case_values(case: Case) -> MultiDict[str, str]:
    return flatten(
        {
            "patient": {
                "name": case.patient_name,
                "birth_date": case.patient_birth_date.isoformat(),
                "mrn": case.patient_mrn,
                "sex": case.patient_sex,
            },
            "timepoint": case.timepoint,
            "question": case.question,
            "requested_specialties": case.requested_specialties,
            "diagnosis": case.diagnosis,
            "stage": case.stage,
            "plan": case.plan,
            "insurance": case.insurance,
            "urgent": case.urgent,
        }
    )


@bp.route("/cases/<int:case_id>/edit", methods=["GET", "POST"])
@login_required
def edit_case(case_id: int) -> Page | Response:
    user = require_role(Role.REFERRER)
    try:
        case = cases.case_for_edit(user, case_id)
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    if request.method == "GET":
        cases.record_draft_read(user, case)
        return _case_form(_case_values(case), {}, case)
    form = compact_rows(request.form)
    try:
        cases.update_draft(user, case_id, parse(CaseInput, form_data(CaseInput, form)))
    except InvalidInput as exc:
        return _case_form(form, errors_by_field(exc.errors), case, 422)
    flash("The draft is saved.", "success")
    return see_other("cases.detail", case_id=case_id)


# --- The case page (referrer and coordinator) --------------------------------------


def render_case_page(user: User, case: Case, status: int = 200, **extra: Any) -> Page:
    """The case page for the referrer or the coordinator; `extra` carries a failed
    form's values and messages (upload, submit, consensus)."""
    role = Role(user.role)
    found = case_file.load(case, coordinator=role is Role.COORDINATOR)
    requests = found.record_requests
    context: dict[str, Any] = {
        "case": case,
        "choices": CHOICES,
        "missing": cases.missing_for(case, found.records),
        "records": found.records,
        "events": found.events,
        "assignments": found.assignments,
        "record_requests": requests,
        "open_requests": [r for r in requests if r.closed_at is None],
        "closed_requests": [r for r in requests if r.closed_at is not None],
        "awaiting_records": case.status_enum is CaseStatus.AWAITING_RECORDS,
        "answer_errors": {},
        "answer_values": {},
        "can_withdraw": can_transition(case.status_enum, CaseStatus.WITHDRAWN),
        "is_coordinator": role is Role.COORDINATOR,
        "released": case.status_enum in (CaseStatus.REPORTED, CaseStatus.ACKNOWLEDGED),
        "review_phase": case.status_enum in REVIEW_PHASE,
        # The coordinator changes specialties while reviews are open, urgency until release.
        "can_change_specialties": case.status_enum in REVIEWS_OPEN,
        "can_change_urgency": case.status_enum in REVIEWS_OPEN | {CaseStatus.CONSENSUS},
        "upload_errors": {},
        "upload_kind": None,
        "submit_missing": None,
        "consensus_errors": {},
        "consensus_values": None,
        # The HL7 FHIR referral the case came from, with its warnings (board/fhir).
        "fhir_import": found.fhir_import,
        "follow_up_errors": {},
        "follow_up_values": {},
    }
    if role is Role.COORDINATOR:
        consensus = found.consensus
        # Who could be assigned (the whole roster with its loads) is on the reviewers
        # page (staffing(), below): the case page is opened far more often than staffing
        # changes, and a large network's roster is hundreds of reviewers.
        needs = found.requirements() if case.submitted_at else None
        context.update(
            reviews=found.reviews,
            consensus=consensus,
            # The way back to the meetings whose agenda holds the case, and the
            # referrer's follow-up questions the coordinator answers here.
            agenda_meetings=found.agenda_meetings,
            follow_up_questions=found.follow_up_questions,
            needs=needs,
            uncovered=found.uncovered(needs) if needs else [],
            disagreements=_disagreements(found, None),
            consensus_values=flatten(
                {
                    "summary": consensus.summary,
                    "recommendations": consensus.recommendations,
                    "diagnosis": consensus.diagnosis,
                    "stage": consensus.stage,
                    "plan": consensus.plan,
                }
            )
            if consensus
            else MultiDict(),
        )
    context.update(extra)
    page = render_template("cases/detail.html", **context)
    return (page, status) if status != 200 else page


@dataclass(frozen=True)
class DisagreementView:
    """Two readers of one specialty who disagree on a dimension, as the coordinator's
    page shows it: their reviews side by side and the tie-break asked, or whom to ask."""

    specialty: str
    dimension: str
    reviews: list[case_file.FileReview]
    tie_break: case_file.FileAssignment | None
    candidates: list[Candidate]


def _disagreements(found: case_file.CaseFile, staffing: Staffing | None) -> list[DisagreementView]:
    by_id = {r.id: r for r in found.reviews}
    out = []
    for disagreement in found.disagreements():
        tie_break = next(
            (
                a
                for a in found.assignments
                if a.purpose == Purpose.TIE_BREAK
                and a.tie_break_dimension == disagreement.dimension
                and a.status in ACTIVE_ASSIGNMENT
            ),
            None,
        )
        out.append(
            DisagreementView(
                disagreement.specialty,
                disagreement.dimension,
                [by_id[i] for i in disagreement.review_ids if i in by_id],
                tie_break,
                [c for c in staffing.for_specialty(disagreement.specialty) if not c.blocked]
                if staffing
                else [],
            )
        )
    return out


@bp.get("/cases/<int:case_id>/staffing")
@login_required
def staffing(case_id: int) -> str:
    """The coordinator's reviewers page for a case: every active reviewer with their
    load and what routing holds against them, to assign, reassign or ask a tie-break."""
    user = require_role(Role.COORDINATOR)
    case = cases.case_for_viewer(user, case_id, object_type="staffing")
    found = case_file.load(case)
    roster = routing.staffing(case, found.assignments, found.records)
    return render_template(
        "cases/staffing.html",
        case=case,
        assignments=found.assignments,
        staffing=roster,
        disagreements=_disagreements(found, roster),
        review_phase=case.status_enum in REVIEW_PHASE,
    )


@bp.get("/cases/<int:case_id>")
@login_required
def detail(case_id: int) -> Page | Response:
    user = me()
    case = cases.case_for_viewer(user, case_id)
    if user.specialty is not None:
        # A reviewer works on the case from their assignment page.
        assignment = reviews.active_assignment_on(user, case.id)
        if assignment is None:
            raise NotFound()
        return see_other("reviews.assignment", assignment_id=assignment.id)
    return render_case_page(user, case)


@bp.post("/cases/<int:case_id>/records")
@login_required
def upload_record(case_id: int) -> Page | Response:
    user = require_role(Role.REFERRER)
    upload = request.files.get("file")
    kind = request.form.get("kind", "")
    try:
        if upload is None or not upload.filename:
            raise InvalidInput([FieldError("file", "is required: choose the PDF to upload")])
        record = cases.add_record(
            user, case_id, kind=kind, filename=upload.filename, data=upload.read()
        )
    except InvalidInput as exc:
        case = cases.case_for_viewer(user, case_id)
        return render_case_page(
            user, case, 422, upload_errors=errors_by_field(exc.errors), upload_kind=kind
        )
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    pages = f"{record.page_count} page{'s' if record.page_count != 1 else ''}"
    flash(f"{RECORD_LABEL[RecordKind(record.kind)]} uploaded ({pages}).", "success")
    return see_other("cases.detail", case_id=case_id)


@bp.post("/cases/<int:case_id>/record-requests/<int:request_id>/answer")
@login_required
def answer_request(case_id: int, request_id: int) -> Page | Response:
    """The referrer closes a reviewer's request in words, without the record."""
    user = require_role(Role.REFERRER)
    answer = request.form.get("answer", "")
    try:
        answered = record_requests.answer_request(user, request_id, answer)
    except InvalidInput as exc:
        case = cases.case_for_viewer(user, case_id)
        return render_case_page(
            user,
            case,
            422,
            answer_errors={request_id: errors_by_field(exc.errors)},
            answer_values={request_id: answer},
        )
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    flash("Your answer is sent to the reviewer.", "success")
    return see_other("cases.detail", case_id=answered.case_id)


@bp.post("/cases/<int:case_id>/tie-breaks")
@login_required
def ask_tie_break(case_id: int) -> Response:
    """The coordinator asks a third reviewer where two readers of a specialty disagree."""
    user = require_role(Role.COORDINATOR)
    raw = request.form.get("reviewer_id", "")
    try:
        reviewer_id = int(raw) if raw else None
    except ValueError:
        reviewer_id = -1  # no such reviewer: the service refuses it in words
    try:
        assignment = tie_breaks.request_tie_break(
            user,
            case_id,
            request.form.get("specialty", ""),
            request.form.get("dimension", ""),
            reviewer_id,
        )
        flash(
            f"{assignment.reviewer.name} is asked to break the tie on the "
            f"{assignment.tie_break_dimension}.",
            "success",
        )
    except InvalidInput as exc:
        flash(
            "The tie-break was not asked: "
            + "; ".join(f"{e.field.replace('_', ' ')} {e.message}" for e in exc.errors),
            "error",
        )
    except Conflict as exc:
        flash(str(exc), "error")
    return back_to(case_id)


@bp.post("/cases/<int:case_id>/records/<int:record_id>/delete")
@login_required
def remove_record(case_id: int, record_id: int) -> Response:
    user = require_role(Role.REFERRER)
    try:
        cases.remove_record(user, case_id, record_id)
        flash("The record is removed.", "success")
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("cases.detail", case_id=case_id)


@bp.get("/records/<int:record_id>")
@login_required
def download_record(record_id: int) -> Response:
    record, data = cases.record_for_download(me(), record_id)
    return record_responses.download(record, data)


@bp.post("/cases/<int:case_id>/submit")
@login_required
def submit(case_id: int) -> Page | Response:
    user = require_role(Role.REFERRER)
    try:
        case = cases.submit(user, case_id)
    except IncompleteCase as exc:
        case = cases.case_for_viewer(user, case_id)
        return render_case_page(user, case, 422, submit_missing=exc.missing)
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    flash(
        f"Case #{case.id} is submitted; the board is choosing its reviewers. "
        f"The second opinion is due by {case.due_at:%Y-%m-%d %H:%M} UTC.",
        "success",
    )
    return see_other("cases.detail", case_id=case_id)


@bp.post("/cases/<int:case_id>/withdraw")
@login_required
def withdraw(case_id: int) -> Response:
    try:
        cases.withdraw(me(), case_id, request.form.get("reason", ""))
        flash(f"Case #{case_id} is withdrawn.", "success")
    except InvalidInput as exc:
        flash("To withdraw: " + "; ".join(f"{e.field} {e.message}" for e in exc.errors), "error")
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("cases.detail", case_id=case_id)


# --- Restricted cases and break-glass (board/auth/policy.py) ----------------------------


@bp.post("/cases/<int:case_id>/restricted")
@login_required
def restrict(case_id: int) -> Response:
    user = require_role(Role.REFERRER)
    case = cases.set_restricted(user, case_id, request.form.get("restricted") == "true")
    flash(
        "The case is restricted: coordinators open it only by break-glass."
        if case.restricted
        else "The restriction is lifted.",
        "success",
    )
    return see_other("cases.detail", case_id=case_id)


@bp.route("/cases/<int:case_id>/break-glass", methods=["GET", "POST"])
@login_required
def break_glass(case_id: int) -> Page | Response:
    user = require_role(Role.COORDINATOR)
    case = cases.restricted_case(user, case_id)
    if not case.restricted:
        return see_other("cases.detail", case_id=case_id)
    values = {"reason": request.form.get("reason", "")}
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            grant = cases.break_glass(user, case_id, values["reason"])
        except InvalidInput as exc:
            errors = errors_by_field(exc.errors)
        else:
            flash(f"You may see this case until {grant.expires_at:%H:%M} UTC.", "success")
            return see_other("cases.detail", case_id=case_id)
    page = render_template(
        "cases/break_glass.html",
        case_id=case_id,
        fs={"data": values, "errors": errors},
        minutes=current_app.config["BREAK_GLASS_MINUTES"],
        least=current_app.config["BREAK_GLASS_MIN_REASON"],
    )
    return (page, 422) if errors else page


# --- The coordinator steers routing: specialties, urgency, auto-reassign ---------------


def _flash_invalid(what: str, exc: InvalidInput) -> None:
    flash(
        f"{what}: " + "; ".join(f"{e.field.replace('_', ' ')} {e.message}" for e in exc.errors),
        "error",
    )


@bp.post("/cases/<int:case_id>/specialties")
@login_required
def change_specialties(case_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    try:
        data = parse(
            SpecialtyChangeInput,
            {"add": request.form.getlist("add"), "remove": request.form.getlist("remove")},
        )
        routing.set_specialties(user, case_id, add=data.add, remove=data.remove)
        changes = [f"added {SPECIALTY_LABEL[Specialty(s)].lower()}" for s in data.add]
        changes += [f"removed {SPECIALTY_LABEL[Specialty(s)].lower()}" for s in data.remove]
        flash(f"You {' and '.join(changes)}; the case is being routed again.", "success")
    except InvalidInput as exc:
        _flash_invalid("The specialties were not changed", exc)
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("cases.detail", case_id=case_id)


@bp.post("/cases/<int:case_id>/urgency")
@login_required
def change_urgency(case_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    try:
        case = cases.set_urgent(user, case_id, request.form.get("urgent") == "true")
        flash(
            f"Case #{case.id} is {'urgent' if case.urgent else 'not urgent'}: the second opinion "
            f"and every open review are due {case.due_at:%Y-%m-%d %H:%M} UTC.",
            "success",
        )
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("cases.detail", case_id=case_id)


@bp.post("/cases/<int:case_id>/auto-reassign")
@login_required
def change_auto_reassign(case_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    case = routing.set_auto_reassign(user, case_id, request.form.get("on") == "true")
    flash(
        "An overdue review of this case now moves to the next eligible reviewer by itself."
        if case.auto_reassign
        else "An overdue review of this case now only tells you; you reassign it.",
        "success",
    )
    return see_other("cases.detail", case_id=case_id)


# --- The coordinator's dashboard ------------------------------------------------------


@bp.get("/board")
@login_required
def dashboard() -> str:
    user = require_role(Role.COORDINATOR)
    status = request.args.get("status") or None
    before = id_arg("before")
    page = cases.case_page(user, status=status, before=before)
    return render_template(
        "cases/dashboard.html",
        cases=page.cases,
        next_before=page.next_before,
        before=before,
        status=status,
        choices=CHOICES,
        # The counts, the newest unroutable cases, the next meetings and the oldest
        # follow-up questions, in one statement (board/cases/dashboard.py).
        widgets=dashboard_widgets.widgets(),
    )


__all__ = ["CHOICES", "bp", "errors_by_field", "flatten", "form_data", "render_case_page"]
