"""Pages of case intake (the referrer) and the coordinator's dashboard and case page.

Views are HTTP only: read the form, call a service, render. Visibility is the
services' job (a case the user may not see raises NotFound, shown as a 404).
"""

from __future__ import annotations

import types
from collections.abc import Iterable
from typing import Any, get_args, get_origin

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask import Response as FlaskResponse
from flask_login import current_user, login_required
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.models import User
from board.auth.roles import SPECIALTY_LABEL, Role, Specialty
from board.board_meetings import services as meetings
from board.cases import schemas
from board.cases import services as cases
from board.cases.models import Case
from board.cases.rules import (
    RECORD_LABEL,
    REVIEW_PHASE,
    STATUS_LABEL,
    TIMEPOINT_LABEL,
    CaseStatus,
    RecordKind,
    Timepoint,
    can_transition,
)
from board.cases.schemas import CaseInput
from board.errors import Conflict, IncompleteCase, NotFound
from board.reviews import services as reviews
from board.reviews.models import Severity, Verdict
from board.routing import services as routing
from board.validation import FieldError, InvalidInput, parse

bp = Blueprint("cases", __name__)

Page = str | tuple[str, int]


# --- Forms: flat HTML fields named by their path in the schema ("patient.name") ------


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds, also inside `X | None`, `Annotated[...]` and
    the tagged `X | str` union of a reviewer's alternative."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def form_data(
    model: type[BaseModel], form: MultiDict[str, str], prefix: str = ""
) -> dict[str, Any]:
    """Builds the nested body a schema expects from form fields named by their path.

    Empty fields are left out, so an optional field stays unset and a required one
    is reported as required. The schema (pydantic, lax) reads "2", "true" and
    "1968-03-14" as the number, boolean and date they are.
    """
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        sub = _model_in(field.annotation)
        if sub is not None:
            nested = form_data(sub, form, f"{key}.")
            if nested or field.is_required():
                out[name] = nested
        elif get_origin(field.annotation) is list:
            values = [v.strip() for v in form.getlist(key) if v.strip()]
            if values:
                out[name] = values
        else:
            value = form.get(key, "").strip()
            if value:
                out[name] = value
    return out


def errors_by_field(errors: Iterable[FieldError]) -> dict[str, str]:
    """Messages keyed by form field name; a list item's error goes to its list field."""
    out: dict[str, str] = {}
    for error in errors:
        key = ".".join(p for p in error.field.split(".") if not p.isdigit()) or "body"
        out[key] = f"{out[key]}; {error.message}" if key in out else error.message
    return out


def flatten(data: dict[str, Any] | None, prefix: str = "") -> MultiDict[str, str]:
    """The inverse of form_data: stored JSON as form values, to fill a form again."""
    out: MultiDict[str, str] = MultiDict()
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            for item in value:
                out.add(name, str(item))
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value is not None:
            out[name] = str(value)
    return out


def _options(enum: Iterable[Any], labels: dict[Any, str] | None = None) -> list[tuple[str, str]]:
    return [(e.value, labels[e] if labels else str(e.value).replace("_", " ")) for e in enum]


# The choices every form offers, from the same enums the schemas validate against.
CHOICES = types.SimpleNamespace(
    sex=_options(schemas.Sex),
    timepoint=_options(Timepoint, TIMEPOINT_LABEL),
    specialty=_options(Specialty, SPECIALTY_LABEL),
    histologic_type=[
        (
            e.value,
            "DCIS"
            if e is schemas.HistologicType.DCIS
            else "LCIS"
            if e is schemas.HistologicType.LCIS
            else "invasive ductal (no special type)"
            if e is schemas.HistologicType.INVASIVE_DUCTAL
            else e.value.replace("_", " "),
        )
        for e in schemas.HistologicType
    ],
    laterality=_options(schemas.Laterality),
    grade=[("1", "1"), ("2", "2"), ("3", "3")],
    receptor=_options(schemas.ReceptorStatus),
    her2=_options(schemas.Her2Status),
    stage_group=_options(schemas.StageGroup),
    surgery=_options(schemas.Surgery),
    yes_no=[("true", "yes"), ("false", "no")],
    record_kind=_options(RecordKind, RECORD_LABEL),
    status=_options(CaseStatus, STATUS_LABEL),
    verdict=_options(Verdict),
    severity=[
        (Severity.MINOR.value, "minor: no change in management"),
        (Severity.MAJOR.value, "major: changes management"),
    ],
)


def me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined,no-any-return]


def require_role(*roles: Role) -> User:
    """Role-only pages answer 404 to everyone else, like a missing page."""
    user = me()
    if Role(user.role) not in roles:
        raise NotFound()
    return user


def see_other(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


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
