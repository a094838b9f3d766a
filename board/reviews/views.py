"""Pages of the reviewer (inbox, assignment, the review form) and the coordinator's
routing controls (reassign, assign by hand)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, render_template, request
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.models import User
from board.auth.roles import Role
from board.cases import record_requests
from board.cases.rules import REVIEW_PHASE, CaseStatus
from board.errors import Conflict, NotFound
from board.reviews import services as reviews
from board.reviews.models import Assignment, Verdict
from board.reviews.schemas import DeclineInput, ReviewInput
from board.validation import FieldError, InvalidInput, parse
from board.web import (
    CHOICES,
    Page,
    back_to,
    compact_rows,
    errors_by_field,
    form_data,
    me,
    require_role,
    see_other,
)

bp = Blueprint("reviews", __name__)

DIMENSIONS = ("diagnosis", "stage", "plan")


def _reviewer() -> User:
    user = me()
    if user.specialty is None:
        raise NotFound()
    return user


@bp.get("/assignments")
@login_required
def inbox() -> str:
    user = _reviewer()
    assignments = reviews.assignments_for(user)
    gone = ("declined", "reassigned")
    return render_template(
        "reviews/inbox.html",
        current=[a for a in assignments if a.status not in gone],
        earlier=[a for a in assignments if a.status in gone],
    )


def _assignment_page(assignment: Assignment, status: int = 200, **extra: Any) -> Page:
    context: dict[str, Any] = {
        "assignment": assignment,
        "case": assignment.case,
        "review": assignment.review,
        "choices": CHOICES,
        "dimensions": list(DIMENSIONS),
        "values": MultiDict(),
        "errors": {},
        "decline_errors": {},
        "refusal": None,
        "record_requests": record_requests.requests_for_case(assignment.case_id),
        "request_values": MultiDict(),
        "request_errors": {},
        "can_request_records": assignment.is_open
        and (
            assignment.case.status_enum in REVIEW_PHASE
            or assignment.case.status_enum is CaseStatus.AWAITING_RECORDS
        ),
    }
    context.update(extra)
    page = render_template("reviews/assignment.html", **context)
    return (page, status) if status != 200 else page


@bp.get("/assignments/<int:assignment_id>")
@login_required
def assignment(assignment_id: int) -> Page:
    return _assignment_page(reviews.assignment_for_reviewer(_reviewer(), assignment_id))


@bp.post("/assignments/<int:assignment_id>/accept")
@login_required
def accept(assignment_id: int) -> Response:
    try:
        reviews.accept(_reviewer(), assignment_id)
        flash("Assignment accepted. Read the records, then record and sign your review.", "success")
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("reviews.assignment", assignment_id=assignment_id)


@bp.post("/assignments/<int:assignment_id>/decline")
@login_required
def decline(assignment_id: int) -> Page | Response:
    user = _reviewer()
    try:
        data = parse(DeclineInput, form_data(DeclineInput, request.form))
        declined = reviews.decline(user, assignment_id, data.reason)
    except InvalidInput as exc:
        return _assignment_page(
            reviews.assignment_for_reviewer(user, assignment_id),
            422,
            decline_errors=errors_by_field(exc.errors),
        )
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("reviews.assignment", assignment_id=assignment_id)
    flash(
        f"You declined case #{declined.case_id}; it goes to the next eligible reviewer.", "success"
    )
    return see_other("reviews.inbox")


def review_body(form: MultiDict[str, str]) -> dict[str, Any]:
    """The review as ReviewInput expects it.

    Per dimension the alternative is the structured fields filled in, else the free
    text. A concur carries no severity or alternative: a radio button cannot be
    cleared without script, so a severity left checked from an earlier "differ" is
    dropped rather than refused.
    """
    data = form_data(ReviewInput, form)
    for dimension in DIMENSIONS:
        verdict = data.setdefault(dimension, {})
        if verdict.get("verdict") == Verdict.CONCUR:
            verdict.pop("severity", None)
            verdict.pop("alternative", None)
            verdict.pop("reasons", None)
        text = form.get(f"{dimension}.alternative_text", "").strip()
        if "alternative" not in verdict and text:
            verdict["alternative"] = text
    return data


@bp.post("/assignments/<int:assignment_id>/review")
@login_required
def sign_review(assignment_id: int) -> Page | Response:
    user = _reviewer()
    # The plan alternative's medication rows: empty ones dropped, the rest renumbered,
    # so a message lands beside its row when the form comes back.
    form = compact_rows(request.form)
    try:
        reviews.submit_review(user, assignment_id, parse(ReviewInput, review_body(form)))
    except InvalidInput as exc:
        return _assignment_page(
            reviews.assignment_for_reviewer(user, assignment_id),
            422,
            values=form,
            errors=errors_by_field(exc.errors),
        )
    except Conflict as exc:
        return _assignment_page(
            reviews.assignment_for_reviewer(user, assignment_id), 409, refusal=str(exc)
        )
    flash("Your review is signed. It cannot be changed; the coordinator has it.", "success")
    return see_other("reviews.assignment", assignment_id=assignment_id)


@bp.post("/assignments/<int:assignment_id>/records-request")
@login_required
def request_records(assignment_id: int) -> Page | Response:
    """The reviewer asks the referrer for records; the case's clock pauses until they come."""
    user = _reviewer()
    kinds = [k for k in request.form.getlist("kinds") if k.strip()]
    try:
        record_requests.request_records(user, assignment_id, kinds, request.form.get("message"))
    except InvalidInput as exc:
        return _assignment_page(
            reviews.assignment_for_reviewer(user, assignment_id),
            422,
            request_values=request.form,
            request_errors=errors_by_field(exc.errors),
        )
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("reviews.assignment", assignment_id=assignment_id)
    flash(
        "Your request is sent to the referrer. The case's clock is paused until the records "
        "arrive or the referrer answers.",
        "success",
    )
    return see_other("reviews.assignment", assignment_id=assignment_id)


# --- The coordinator's routing controls ------------------------------------------------


def _reviewer_id(raw: str | None, *, required: bool) -> int | None:
    if not raw:
        if required:
            raise InvalidInput([FieldError("reviewer", "is required: choose a reviewer")])
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput([FieldError("reviewer", "is not a reviewer on the roster")]) from None


def _flash_refusal(exc: InvalidInput | Conflict) -> None:
    if isinstance(exc, InvalidInput):
        flash("The reviewer " + "; ".join(e.message for e in exc.errors), "error")
    else:
        flash(str(exc), "error")


@bp.post("/assignments/<int:assignment_id>/reassign")
@login_required
def reassign(assignment_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    case_id = request.form.get("case_id", type=int)
    try:
        reviewer_id = _reviewer_id(request.form.get("reviewer_id"), required=False)
        done = reviews.reassign(user, assignment_id, reviewer_id)
        case_id = done.case_id
        flash(
            "The assignment is reassigned to the reviewer you chose."
            if reviewer_id
            else "The assignment is taken off its reviewer; routing is choosing the next one.",
            "success",
        )
    except (InvalidInput, Conflict) as exc:
        _flash_refusal(exc)
    if case_id is None:
        return see_other("cases.dashboard")
    return back_to(case_id)


@bp.post("/cases/<int:case_id>/assignments")
@login_required
def assign(case_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    try:
        reviewer_id = _reviewer_id(request.form.get("reviewer_id"), required=True)
        assert reviewer_id is not None
        reviews.assign_by_hand(user, case_id, reviewer_id)
        flash("The reviewer is assigned and told by email.", "success")
    except (InvalidInput, Conflict) as exc:
        _flash_refusal(exc)
    return back_to(case_id)
