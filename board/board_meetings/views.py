"""The board's pages: the consensus, its release, and the second opinion (page and PDF)."""

from __future__ import annotations

from flask import Blueprint, flash, render_template, request
from flask import Response as FlaskResponse
from flask_login import login_required
from werkzeug.wrappers import Response

from board.auth.roles import Role
from board.board_meetings import services as meetings
from board.board_meetings.report import second_opinion_pdf as render_pdf
from board.board_meetings.schemas import ConsensusInput
from board.cases import services as cases
from board.cases.views import render_case_page
from board.errors import Conflict
from board.validation import InvalidInput, parse
from board.web import Page, errors_by_field, form_data, me, require_role, see_other

bp = Blueprint("board_meetings", __name__)


@bp.post("/cases/<int:case_id>/consensus")
@login_required
def record_consensus(case_id: int) -> Page | Response:
    # The role first: a referrer or reviewer who may see the case must not get its
    # page back with form errors for an action that is not theirs.
    user = require_role(Role.COORDINATOR)
    try:
        data = parse(ConsensusInput, form_data(ConsensusInput, request.form))
        consensus = meetings.record_consensus(user, case_id, data)
    except InvalidInput as exc:
        case = cases.case_for_viewer(user, case_id)
        return render_case_page(
            user,
            case,
            422,
            consensus_values=request.form,
            consensus_errors=errors_by_field(exc.errors),
        )
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    flash(
        f"Consensus version {consensus.version} is signed. Check the second opinion, "
        "then release it to the referrer.",
        "success",
    )
    return see_other("cases.detail", case_id=case_id)


@bp.post("/cases/<int:case_id>/release")
@login_required
def release(case_id: int) -> Response:
    try:
        meetings.release(me(), case_id)
        flash("The second opinion is released; the referrer is told by email.", "success")
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("cases.detail", case_id=case_id)


@bp.get("/cases/<int:case_id>/second-opinion")
@login_required
def second_opinion(case_id: int) -> str:
    user = me()
    opinion = meetings.second_opinion_for(user, case_id)
    return render_template(
        "board_meetings/second_opinion.html",
        opinion=opinion,
        is_referrer=user.role == Role.REFERRER,
    )


@bp.get("/cases/<int:case_id>/second-opinion.pdf")
@login_required
def second_opinion_pdf(case_id: int) -> Response:
    opinion = meetings.second_opinion_for(me(), case_id, action="second_opinion_download")
    return FlaskResponse(
        render_pdf(opinion),
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="second-opinion-case-{case_id}.pdf"'},
    )


@bp.post("/cases/<int:case_id>/acknowledge")
@login_required
def acknowledge(case_id: int) -> Response:
    try:
        meetings.acknowledge(me(), case_id)
        flash("Thank you: the second opinion is acknowledged.", "success")
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("board_meetings.second_opinion", case_id=case_id)
