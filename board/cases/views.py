"""Pages of case intake (the referrer) and the coordinator's dashboard and case page.

Views are HTTP only: read the form, call a service, render. Visibility is the
services' job (a case the user may not see raises NotFound, shown as a 404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request
from flask import Response as FlaskResponse
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings import services as meetings
from board.cases import services as cases
from board.cases.models import Case
from board.cases.rules import (
    RECORD_LABEL,
    REVIEW_PHASE,
    CaseStatus,
    RecordKind,
    can_transition,
)
from board.cases.schemas import CaseInput
from board.errors import Conflict, IncompleteCase, NotFound
from board.reviews import services as reviews
from board.routing import services as routing
from board.validation import FieldError, InvalidInput, parse
from board.web import (
    CHOICES,
    Page,
    errors_by_field,
    flatten,
    form_data,
    me,
    require_role,
    see_other,
)

bp = Blueprint("cases", __name__)

# --- The referrer: case list, the case form ----------------------------------------


@bp.get("/cases")
@login_required
def my_cases() -> str:
    user = require_role(Role.REFERRER)
    return render_template("cases/my_cases.html", cases=cases.cases_for(user))


def _case_form(
    values: MultiDict[str, str], errors: dict[str, str], case: Case | None, status: int = 200
) -> Page:
    page = render_template(
        "cases/form.html", values=values, errors=errors, case=case, choices=CHOICES
    )
    return (page, status) if status != 200 else page


@bp.route("/cases/new", methods=["GET", "POST"])
@login_required
def new_case() -> Page | Response:
    user = require_role(Role.REFERRER)
    if request.method == "GET":
        return _case_form(MultiDict(), {}, None)
    try:
        case = cases.create_draft(user, parse(CaseInput, form_data(CaseInput, request.form)))
    except InvalidInput as exc:
        return _case_form(request.form, errors_by_field(exc.errors), None, 422)
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
        return _case_form(_case_values(case), {}, case)
    try:
        cases.update_draft(user, case_id, parse(CaseInput, form_data(CaseInput, request.form)))
    except InvalidInput as exc:
        return _case_form(request.form, errors_by_field(exc.errors), case, 422)
    flash("The draft is saved.", "success")
    return see_other("cases.detail", case_id=case_id)


# --- The case page (referrer and coordinator) --------------------------------------


def render_case_page(user: User, case: Case, status: int = 200, **extra: Any) -> Page:
    """The case page for the referrer or the coordinator; `extra` carries a failed
    form's values and messages (upload, submit, consensus)."""
    role = Role(user.role)
    context: dict[str, Any] = {
        "case": case,
        "choices": CHOICES,
        "missing": cases.missing_for(case),
        "assignments": reviews.assignments_for_case(case.id),
        "can_withdraw": can_transition(case.status_enum, CaseStatus.WITHDRAWN),
        "is_coordinator": role is Role.COORDINATOR,
        "released": case.status_enum in (CaseStatus.REPORTED, CaseStatus.ACKNOWLEDGED),
        "review_phase": case.status_enum in REVIEW_PHASE,
        "upload_errors": {},
        "upload_kind": None,
        "submit_missing": None,
        "consensus_errors": {},
        "consensus_values": None,
    }
    if role is Role.COORDINATOR:
        consensus = meetings.current_consensus(case.id)
        context.update(
            reviews=reviews.reviews_for_case(case.id),
            consensus=consensus,
            staffing=routing.staffing(case) if case.submitted_at else None,
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
    # The file name is the record's number, not the uploaded name, which may carry
    # the patient's name into a download folder.
    return FlaskResponse(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="record-{record.id}.pdf"'},
    )


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


# --- The coordinator's dashboard ------------------------------------------------------


@bp.get("/board")
@login_required
def dashboard() -> str:
    user = require_role(Role.COORDINATOR)
    every_case = cases.cases_for(user)
    status = request.args.get("status") or None
    shown = [c for c in every_case if status is None or c.status == status]
    unroutable = [c for c in every_case if c.status_enum is CaseStatus.UNROUTABLE]
    return render_template(
        "cases/dashboard.html",
        cases=shown,
        unroutable=unroutable,
        counts=meetings.counts_by_status(),
        status=status,
        choices=CHOICES,
        overdue=sum(1 for c in every_case if c.is_overdue()),
    )


__all__ = ["CHOICES", "bp", "errors_by_field", "flatten", "form_data", "render_case_page"]
