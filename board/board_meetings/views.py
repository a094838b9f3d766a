"""The board's pages: meetings and their agenda, the consensus, its release, the second
opinion (page and PDF), and after release the referrer's follow-up questions and outcome."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, flash, jsonify, render_template, request
from flask import Response as FlaskResponse
from flask_login import login_required
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.roles import Role
from board.board_meetings import follow_ups
from board.board_meetings import meetings as board_meetings
from board.board_meetings import services as meetings
from board.board_meetings.models import Consensus, Meeting
from board.board_meetings.report import second_opinion_pdf as render_pdf
from board.board_meetings.rules import VerdictFacts, disagreeing_dimensions
from board.board_meetings.schemas import (
    AnswerInput,
    ConsensusInput,
    FollowUpInput,
    MeetingForm,
    MeetingWhen,
    OutcomeForm,
)
from board.cases import services as cases
from board.cases.models import Case
from board.cases.views import render_case_page
from board.errors import Conflict, NotFound
from board.extensions import db
from board.reviews.models import Review
from board.reviews.services import reviews_for_case
from board.validation import FieldError, InvalidInput, parse
from board.web import (
    CHOICES,
    Page,
    compact_rows,
    errors_by_field,
    form_data,
    id_arg,
    me,
    require_role,
    see_other,
)

bp = Blueprint("board_meetings", __name__)


@bp.post("/cases/<int:case_id>/consensus")
@login_required
def record_consensus(case_id: int) -> Page | Response:
    # The role first: a referrer or reviewer who may see the case must not get its
    # page back with form errors for an action that is not theirs.
    user = require_role(Role.COORDINATOR)
    # Empty medication rows are dropped and the rest renumbered, so each message
    # lands beside the row it is about when the form comes back.
    form = compact_rows(request.form)
    try:
        data = parse(ConsensusInput, form_data(ConsensusInput, form))
        consensus = meetings.record_consensus(user, case_id, data)
    except InvalidInput as exc:
        case = cases.case_for_viewer(user, case_id)
        return render_case_page(
            user,
            case,
            422,
            consensus_values=form,
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


def _meeting_id_from_form() -> int | None:
    """The meeting page a form was sent from (to go back to it), if any."""
    raw = request.form.get("meeting_id", "")
    return int(raw) if raw.isdigit() else None


@bp.post("/cases/<int:case_id>/release")
@login_required
def release(case_id: int) -> Response:
    try:
        meetings.release(me(), case_id)
        flash(
            f"The second opinion is released (case #{case_id}); the referrer is told by email.",
            "success",
        )
    except Conflict as exc:
        flash(str(exc), "error")
    meeting_id = _meeting_id_from_form()
    if meeting_id is not None:
        return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor=f"case-{case_id}")
    return see_other("cases.detail", case_id=case_id)


# --- The second opinion, and what the referrer does after reading it ---------------------


def _second_opinion_page(case_id: int, status: int = 200, **extra: Any) -> Page:
    user = me()
    opinion = meetings.second_opinion_for(user, case_id)
    is_referrer = user.role == Role.REFERRER
    questions = follow_ups.questions_for(case_id)
    case = opinion.case
    context: dict[str, Any] = {
        "opinion": opinion,
        "is_referrer": is_referrer,
        "questions": questions,
        "max_questions": follow_ups.MAX_QUESTIONS,
        "can_ask": is_referrer and len(questions) < follow_ups.MAX_QUESTIONS,
        "question_fs": {"data": MultiDict(), "errors": {}},
        "outcome_fs": {
            "data": MultiDict(
                {
                    "implementation": case.implementation or "",
                    "note": case.implementation_note or "",
                }
            ),
            "errors": {},
        },
    }
    context.update(extra)
    page = render_template("board_meetings/second_opinion.html", **context)
    return (page, status) if status != 200 else page


@bp.get("/cases/<int:case_id>/second-opinion")
@login_required
def second_opinion(case_id: int) -> Page:
    return _second_opinion_page(case_id)


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


@bp.post("/cases/<int:case_id>/follow-ups")
@login_required
def ask_follow_up(case_id: int) -> Page | Response:
    user = require_role(Role.REFERRER)
    try:
        data = parse(FollowUpInput, form_data(FollowUpInput, request.form))
        follow_ups.ask(user, case_id, data.question)
    except InvalidInput as exc:
        return _second_opinion_page(
            case_id,
            422,
            question_fs={"data": request.form, "errors": errors_by_field(exc.errors)},
        )
    except Conflict as exc:
        # Not released yet: the case page says where the case stands.
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    flash("Your question is sent to the board; its answer will appear as an addendum.", "success")
    return see_other("board_meetings.second_opinion", case_id=case_id, _anchor="follow-ups")


@bp.post("/cases/<int:case_id>/implementation")
@login_required
def record_implementation(case_id: int) -> Page | Response:
    user = require_role(Role.REFERRER)
    try:
        data = parse(OutcomeForm, form_data(OutcomeForm, request.form))
        follow_ups.record_implementation(user, case_id, data.implementation, data.note)
    except InvalidInput as exc:
        return _second_opinion_page(
            case_id,
            422,
            outcome_fs={"data": request.form, "errors": errors_by_field(exc.errors)},
        )
    except Conflict as exc:
        # Not released yet: the case page says where the case stands.
        flash(str(exc), "error")
        return see_other("cases.detail", case_id=case_id)
    flash("Thank you: the outcome is recorded.", "success")
    return see_other("board_meetings.second_opinion", case_id=case_id, _anchor="outcome")


FOLLOW_UPS_PAGE = 50


@bp.get("/follow-ups")
@login_required
def follow_ups_waiting() -> str:
    """Every follow-up question still waiting for an answer, oldest first, 50 a page."""
    user = require_role(Role.COORDINATOR)
    after = id_arg("after")
    waiting = follow_ups.open_questions(user, limit=FOLLOW_UPS_PAGE, after=after)
    return render_template("board_meetings/follow_ups.html", waiting=waiting, after=after)


@bp.post("/follow-ups/<int:question_id>/answer")
@login_required
def answer_follow_up(question_id: int) -> Page | Response:
    """The coordinator answers a follow-up question from the case page."""
    user = require_role(Role.COORDINATOR)
    raw = request.form.get("case_id", "")
    try:
        data = parse(AnswerInput, form_data(AnswerInput, request.form))
        item = follow_ups.answer(user, question_id, data.answer)
    except InvalidInput as exc:
        if not raw.isdigit():
            raise NotFound() from exc
        case = cases.case_for_viewer(user, int(raw))
        return render_case_page(
            user,
            case,
            422,
            follow_up_errors={question_id: errors_by_field(exc.errors)},
            follow_up_values={question_id: request.form.get("answer", "")},
        )
    except Conflict as exc:
        flash(str(exc), "error")
        if raw.isdigit():
            return see_other("cases.detail", case_id=int(raw), _anchor="follow-ups")
        return see_other("cases.dashboard")
    flash(
        f"Your answer is added to the second opinion on case #{item.case_id} as an addendum; "
        "the referrer is told.",
        "success",
    )
    return see_other("cases.detail", case_id=item.case_id, _anchor="follow-ups")


# --- Meetings: the coordinator's list and the meeting page --------------------------------


def _meetings_page(values: MultiDict[str, str], errors: dict[str, str], status: int = 200) -> Page:
    user = require_role(Role.COORDINATOR)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=12)
    overview = board_meetings.meetings_overview(user, since)
    page = render_template(
        "board_meetings/meetings.html",
        upcoming=overview.upcoming,
        past=overview.past,
        past_count=overview.past_count,
        fs={"data": values, "errors": errors},
        choices=CHOICES,
    )
    return (page, status) if status != 200 else page


@bp.get("/meetings")
@login_required
def meetings_list() -> Page:
    return _meetings_page(MultiDict({"duration_minutes": "60", "weeks": "1"}), {})


@bp.post("/meetings")
@login_required
def create_meeting() -> Page | Response:
    user = require_role(Role.COORDINATOR)
    try:
        data = parse(MeetingForm, form_data(MeetingForm, request.form))
        created = board_meetings.create_meeting(
            user,
            starts_at=data.starts_at(),
            duration_minutes=data.duration_minutes,
            place=data.place,
            video_link=data.video_link,
            expected_specialties=list(data.expected_specialties),
            weeks=data.weeks,
        )
    except InvalidInput as exc:
        return _meetings_page(request.form, errors_by_field(exc.errors), 422)
    except Conflict as exc:
        return _meetings_page(request.form, {"body": str(exc)}, 422)
    first = created[0]
    if len(created) > 1:
        flash(
            f"{len(created)} weekly meetings are scheduled, from {first.starts_at:%Y-%m-%d %H:%M} "
            "UTC. Add the cases to each agenda.",
            "success",
        )
    else:
        flash(
            f"The meeting of {first.starts_at:%Y-%m-%d %H:%M} UTC is scheduled. Add its cases.",
            "success",
        )
    return see_other("board_meetings.meeting", meeting_id=first.id)


@dataclass(frozen=True)
class AgendaView:
    """One case on the agenda as the meeting page shows it."""

    case: Case
    position: int
    why: str | None
    reviews: list[Review]
    # Dimensions on which the reviewers took different positions: highlighted.
    disagree: frozenset[str]
    consensus: Consensus | None


def _facts(review: Review) -> dict[str, VerdictFacts | None]:
    out: dict[str, VerdictFacts | None] = {}
    for verdict in review.verdicts:
        out[verdict.dimension] = VerdictFacts(
            verdict.verdict, verdict.severity, verdict.alternative
        )
    return out


def _agenda_views(meeting: Meeting) -> list[AgendaView]:
    views = []
    for position, item in enumerate(board_meetings.agenda(meeting.id), start=1):
        case = db.session.get_one(Case, item.case_id)
        signed = reviews_for_case(case.id)
        views.append(
            AgendaView(
                case,
                position,
                board_meetings.why_discuss(case),
                signed,
                disagreeing_dimensions([_facts(r) for r in signed]),
                meetings.current_consensus(case.id),
            )
        )
    return views


def _meeting_page(meeting_id: int, status: int = 200, **extra: Any) -> Page:
    user = require_role(Role.COORDINATOR)
    meeting = board_meetings.meeting_for_coordinator(user, meeting_id)
    attendees = set(board_meetings.attendee_ids(meeting.id))
    context: dict[str, Any] = {
        "meeting": meeting,
        "items": _agenda_views(meeting),
        "eligible": board_meetings.eligible_cases(user, meeting.id)
        if meeting.status == board_meetings.SCHEDULED
        else [],
        "people": board_meetings.board_people(),
        "attendees": attendees,
        "choices": CHOICES,
        "move_fs": {
            "data": MultiDict(
                {
                    "date": meeting.starts_at.astimezone(dt.UTC).date().isoformat(),
                    "time": meeting.starts_at.astimezone(dt.UTC).strftime("%H:%M"),
                }
            ),
            "errors": {},
        },
        "add_fs": {"data": MultiDict(), "errors": {}},
        "cancelled": meeting.status == board_meetings.CANCELLED,
    }
    context.update(extra)
    page = render_template("board_meetings/meeting.html", **context)
    return (page, status) if status != 200 else page


@bp.get("/meetings/<int:meeting_id>")
@login_required
def meeting(meeting_id: int) -> Page:
    return _meeting_page(meeting_id)


@bp.post("/meetings/<int:meeting_id>/move")
@login_required
def move_meeting(meeting_id: int) -> Page | Response:
    user = require_role(Role.COORDINATOR)
    try:
        data = parse(MeetingWhen, form_data(MeetingWhen, request.form))
        moved = board_meetings.move_meeting(user, meeting_id, data.starts_at())
    except InvalidInput as exc:
        return _meeting_page(
            meeting_id,
            422,
            move_fs={"data": request.form, "errors": errors_by_field(exc.errors)},
        )
    except Conflict as exc:
        flash(str(exc), "error")
        return see_other("board_meetings.meeting", meeting_id=meeting_id)
    flash(f"The meeting is moved to {moved.starts_at:%Y-%m-%d %H:%M} UTC.", "success")
    return see_other("board_meetings.meeting", meeting_id=meeting_id)


@bp.post("/meetings/<int:meeting_id>/cancel")
@login_required
def cancel_meeting(meeting_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    cancelled = board_meetings.cancel_meeting(user, meeting_id)
    flash(
        f"The meeting of {cancelled.starts_at:%Y-%m-%d %H:%M} UTC is cancelled; "
        "its agenda is kept for the record.",
        "success",
    )
    return see_other("board_meetings.meeting", meeting_id=meeting_id)


@bp.post("/meetings/<int:meeting_id>/attendance")
@login_required
def record_attendance(meeting_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    raw = request.form.getlist("user_ids")
    if not all(value.isdigit() for value in raw):
        flash("The attendance was not saved: tick the people who were there.", "error")
        return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor="attendance")
    try:
        present = board_meetings.set_attendance(user, meeting_id, [int(v) for v in raw])
    except Conflict as exc:
        flash(f"The attendance was not saved: {exc}", "error")
    else:
        flash(
            f"Attendance saved: {len(present)} "
            f"{'person was' if len(present) == 1 else 'people were'} there.",
            "success",
        )
    return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor="attendance")


@bp.post("/meetings/<int:meeting_id>/agenda")
@login_required
def add_to_agenda(meeting_id: int) -> Page | Response:
    user = require_role(Role.COORDINATOR)
    raw = request.form.get("case_id", "").strip()
    try:
        if not raw.isdigit():
            raise InvalidInput([FieldError("case_id", "choose a case to add")])
        item = board_meetings.add_to_agenda(user, meeting_id, int(raw))
    except (InvalidInput, Conflict) as exc:
        message = (
            errors_by_field(exc.errors) if isinstance(exc, InvalidInput) else {"case_id": str(exc)}
        )
        return _meeting_page(meeting_id, 422, add_fs={"data": request.form, "errors": message})
    flash(f"Case #{item.case_id} is on the agenda.", "success")
    return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor="agenda")


@bp.post("/meetings/<int:meeting_id>/agenda/<int:case_id>/remove")
@login_required
def remove_from_agenda(meeting_id: int, case_id: int) -> Response:
    user = require_role(Role.COORDINATOR)
    board_meetings.remove_from_agenda(user, meeting_id, case_id)
    flash(f"Case #{case_id} is taken off the agenda.", "success")
    return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor="agenda")


@bp.post("/meetings/<int:meeting_id>/agenda/<int:case_id>/move")
@login_required
def move_on_agenda(meeting_id: int, case_id: int) -> Response:
    """Up or down one place: reordering without script."""
    user = require_role(Role.COORDINATOR)
    try:
        board_meetings.move_on_agenda(user, meeting_id, case_id, request.form.get("direction", ""))
    except Conflict as exc:
        flash(str(exc), "error")
    return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor=f"order-{case_id}")


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/meetings/<int:meeting_id>/agenda/order")
@login_required
def reorder_agenda(meeting_id: int) -> Any:
    """The whole agenda in its new order: sent by the drag-and-drop script (which asks
    for JSON) or by the form's own button."""
    user = require_role(Role.COORDINATOR)
    raw = request.form.getlist("case_ids")
    try:
        if not all(value.isdigit() for value in raw):
            raise Conflict("The new order must list the cases by number")
        order = board_meetings.reorder_agenda(user, meeting_id, [int(v) for v in raw])
    except Conflict as exc:
        if _wants_json():
            return jsonify({"error": str(exc), "details": None}), 409
        flash(str(exc), "error")
        return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor="agenda")
    if _wants_json():
        return jsonify({"case_ids": order})
    flash("The agenda's order is saved.", "success")
    return see_other("board_meetings.meeting", meeting_id=meeting_id, _anchor="agenda")


__all__ = ["bp"]
