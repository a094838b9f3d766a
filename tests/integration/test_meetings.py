"""Tumor-board meetings and their agenda: weekly series, move, cancel, attendance,
and which cases the coordinator may put up for discussion; after release, the
referrer's follow-up questions and whether the recommendation was carried out."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from board.audit.models import AuditEvent
from board.auth.roles import Role
from board.board_meetings import follow_ups, meetings
from board.board_meetings.models import Consensus
from board.board_meetings.services import second_opinion_for
from board.cases.models import Case
from board.cases.rules import CaseStatus
from board.db import utcnow
from board.errors import Conflict, NotFound
from board.extensions import db
from board.notifications.models import Notification
from board.reviews.models import Assignment, Review, ReviewVerdict
from board.validation import InvalidInput
from tests.support import factories as f
from tests.support.api import Api, sign_in

MONDAY = dt.datetime(2026, 12, 7, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def people(ctx):
    home = f.institution("Home")
    return {
        "coordinator": f.user(Role.COORDINATOR, f.institution("Board")),
        "referrer": f.user(Role.REFERRER, home),
        "pathologist": f.user(Role.PATHOLOGIST, f.institution("Away")),
    }


def _case(people, status: CaseStatus) -> Case:
    referrer = people["referrer"]
    case = Case(
        referrer_id=referrer.id,
        institution_id=referrer.institution_id,
        status=status.value,
        timepoint="after_biopsy",
        question="Is the HER2 status right?",
        patient_name="Ada Patient",
        patient_birth_date=dt.date(1968, 3, 14),
        patient_mrn="MRN-0001",
        patient_sex="female",
    )
    db.session.add(case)
    db.session.commit()
    return case


def _review(people, case: Case, severity: str | None) -> None:
    assignment = Assignment(
        case_id=case.id,
        reviewer_id=people["pathologist"].id,
        specialty="breast_pathology",
        reason="test",
        due_at=utcnow(),
    )
    db.session.add(assignment)
    db.session.flush()
    review = Review(
        assignment_id=assignment.id,
        case_id=case.id,
        reviewer_id=people["pathologist"].id,
        signature="0" * 64,
    )
    db.session.add(review)
    db.session.flush()
    verdict = "differ" if severity else "concur"
    db.session.add(
        ReviewVerdict(
            review_id=review.id, dimension="diagnosis", verdict=verdict, severity=severity
        )
    )
    db.session.commit()


def _meeting(people, **kwargs):
    return meetings.create_meeting(
        people["coordinator"], starts_at=MONDAY, place="Room 4", **kwargs
    )[0]


def test_a_weekly_meeting_for_four_weeks_makes_four_meetings_in_one_series(people):
    series = meetings.create_meeting(
        people["coordinator"],
        starts_at=MONDAY,
        video_link="https://video.example/board",
        expected_specialties=["breast_pathology", "medical_oncology"],
        weeks=4,
    )
    assert [m.starts_at for m in series] == [MONDAY + dt.timedelta(weeks=w) for w in range(4)]
    assert len({m.series_id for m in series}) == 1 and series[0].series_id is not None
    assert series[0].expected_specialties == ["breast_pathology", "medical_oncology"]


def test_a_single_meeting_has_no_series_and_needs_a_place_or_a_link(people):
    assert _meeting(people).series_id is None
    with pytest.raises(Conflict):
        meetings.create_meeting(people["coordinator"], starts_at=MONDAY)


def test_only_a_coordinator_schedules_meetings(people):
    with pytest.raises(NotFound):
        meetings.create_meeting(people["referrer"], starts_at=MONDAY, place="Room 4")


def test_a_moved_meeting_keeps_its_agenda_and_a_cancelled_one_cannot_move(people):
    meeting = _meeting(people)
    case = _case(people, CaseStatus.READY_FOR_BOARD)
    meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)
    later = MONDAY + dt.timedelta(days=1)
    assert meetings.move_meeting(people["coordinator"], meeting.id, later).starts_at == later
    assert meetings.cancel_meeting(people["coordinator"], meeting.id).status == "cancelled"
    assert [item.case_id for item in meetings.agenda(meeting.id)] == [case.id]
    with pytest.raises(Conflict):
        meetings.move_meeting(people["coordinator"], meeting.id, MONDAY)


def test_attendance_is_replaced_by_the_list_given(people):
    meeting = _meeting(people)
    ids = [people["coordinator"].id, people["pathologist"].id]
    meetings.set_attendance(people["coordinator"], meeting.id, ids)
    meetings.set_attendance(people["coordinator"], meeting.id, ids[:1])
    assert meetings.attendee_ids(meeting.id) == ids[:1]


def test_a_case_ready_for_board_goes_on_the_agenda_and_is_audited(people):
    meeting = _meeting(people)
    case = _case(people, CaseStatus.READY_FOR_BOARD)
    item = meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)
    again = meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)
    assert item.id == again.id and item.position == 0
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case.id))
    assert "agenda_add" in list(actions)


def test_a_case_in_review_with_a_major_discordance_may_be_discussed(people):
    meeting = _meeting(people)
    case = _case(people, CaseStatus.IN_REVIEW)
    _review(people, case, "major")
    assert meetings.why_discuss(case) == "major discordance"
    meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)


def test_a_case_in_review_with_only_a_minor_difference_is_refused_with_the_reason(people):
    meeting = _meeting(people)
    case = _case(people, CaseStatus.IN_REVIEW)
    _review(people, case, "minor")
    with pytest.raises(Conflict, match="nothing to discuss"):
        meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)


def test_a_draft_case_is_refused(people):
    meeting = _meeting(people)
    case = _case(people, CaseStatus.DRAFT)
    with pytest.raises(Conflict, match="draft"):
        meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)


def test_the_agenda_is_reordered_by_a_list_of_case_ids_and_items_can_be_removed(people):
    meeting = _meeting(people)
    first, second, third = (_case(people, CaseStatus.READY_FOR_BOARD) for _ in range(3))
    for case in (first, second, third):
        meetings.add_to_agenda(people["coordinator"], meeting.id, case.id)
    meetings.reorder_agenda(people["coordinator"], meeting.id, [third.id, first.id, second.id])
    assert [i.case_id for i in meetings.agenda(meeting.id)] == [third.id, first.id, second.id]
    with pytest.raises(Conflict):
        meetings.reorder_agenda(people["coordinator"], meeting.id, [first.id])
    meetings.remove_from_agenda(people["coordinator"], meeting.id, first.id)
    assert [i.case_id for i in meetings.agenda(meeting.id)] == [third.id, second.id]


def _released(people, status: CaseStatus = CaseStatus.REPORTED) -> Case:
    case = _case(people, status)
    db.session.add(
        Consensus(
            case_id=case.id,
            summary="The board concurs with the original diagnosis.",
            signed_by_id=people["coordinator"].id,
        )
    )
    db.session.commit()
    return case


def _kinds(user_id: int) -> list[str]:
    return list(
        db.session.scalars(select(Notification.kind).where(Notification.user_id == user_id))
    )


def test_the_referrer_asks_up_to_three_follow_up_questions_and_coordinators_are_told(people):
    case = _released(people)
    for n in range(3):
        follow_ups.ask(people["referrer"], case.id, f"Question {n}?")
    with pytest.raises(InvalidInput):
        follow_ups.ask(people["referrer"], case.id, "A fourth?")
    assert _kinds(people["coordinator"].id).count("follow_up") == 3


def test_only_the_referrer_of_a_released_case_may_ask(people):
    other = f.user(Role.REFERRER, f.institution("Elsewhere"))
    case = _released(people)
    with pytest.raises(NotFound):
        follow_ups.ask(other, case.id, "Why?")
    unreleased = _case(people, CaseStatus.CONSENSUS)
    with pytest.raises(Conflict):
        follow_ups.ask(people["referrer"], unreleased.id, "Why?")


def test_an_answer_is_an_addendum_to_the_second_opinion_and_the_referrer_is_told(people):
    case = _released(people)
    question = follow_ups.ask(people["referrer"], case.id, "Is radiation needed?")
    opinion = second_opinion_for(people["referrer"], case.id)
    assert opinion.follow_ups == []
    follow_ups.answer(people["coordinator"], question.id, "Yes, after lumpectomy.")
    opinion = second_opinion_for(people["referrer"], case.id)
    assert [q.answer for q in opinion.follow_ups] == ["Yes, after lumpectomy."]
    assert "follow_up_answer" in _kinds(people["referrer"].id)
    with pytest.raises(Conflict):
        follow_ups.answer(people["coordinator"], question.id, "Changed my mind")
    with pytest.raises(NotFound):
        follow_ups.answer(people["referrer"], question.id, "Self-answered")


def test_the_addendum_shows_on_the_second_opinion_page(app, people):
    case = _released(people)
    question = follow_ups.ask(people["referrer"], case.id, "Is radiation needed?")
    follow_ups.answer(people["coordinator"], question.id, "Yes, after lumpectomy.")
    client = app.test_client()
    assert sign_in(client, people["referrer"].email).status_code == 302
    page = client.get(f"/cases/{case.id}/second-opinion").get_data(as_text=True)
    assert "Addendum" in page and "Yes, after lumpectomy." in page


def test_the_referrer_records_whether_the_recommendation_was_carried_out(people):
    case = _released(people, CaseStatus.ACKNOWLEDGED)
    with pytest.raises(InvalidInput):
        follow_ups.record_implementation(people["referrer"], case.id, "partly", "")
    with pytest.raises(InvalidInput):
        follow_ups.record_implementation(people["referrer"], case.id, "mostly", "x")
    follow_ups.record_implementation(people["referrer"], case.id, "partly", "Patient declined RT")
    assert (case.implementation, case.implementation_note) == ("partly", "Patient declined RT")
    assert case.implementation_recorded_at is not None
    follow_ups.record_implementation(people["referrer"], case.id, "fully", None)
    assert case.implementation == "fully"


def test_implementation_is_recorded_only_after_release_by_the_referrer(people):
    case = _case(people, CaseStatus.CONSENSUS)
    with pytest.raises(Conflict):
        follow_ups.record_implementation(people["referrer"], case.id, "fully", None)
    with pytest.raises(NotFound):
        follow_ups.record_implementation(people["coordinator"], case.id, "fully", None)


@pytest.fixture
def api(client, people):
    return {who: Api(client, person.email) for who, person in people.items()}


def test_the_api_schedules_a_weekly_series_and_lists_it(api):
    created = api["coordinator"].post(
        "/meetings",
        {"starts_at": MONDAY.isoformat(), "place": "Room 4", "weeks": 3},
    )
    assert created.status_code == 201, created.get_json()
    assert len({m["series_id"] for m in created.get_json()}) == 1
    listed = api["coordinator"].get("/meetings").get_json()
    assert [m["id"] for m in listed] == [m["id"] for m in created.get_json()]
    assert api["referrer"].get("/meetings").status_code == 404


def test_the_api_refuses_a_start_without_a_time_zone(api):
    response = api["coordinator"].post(
        "/meetings", {"starts_at": "2026-12-07T16:00:00", "place": "Room 4"}
    )
    assert response.status_code == 422


def test_the_api_moves_cancels_and_records_attendance(api, people):
    meeting_id = (
        api["coordinator"]
        .post("/meetings", {"starts_at": MONDAY.isoformat(), "video_link": "https://v.example/b"})
        .get_json()[0]["id"]
    )
    later = (MONDAY + dt.timedelta(hours=2)).isoformat()
    moved = api["coordinator"].post(f"/meetings/{meeting_id}/move", {"starts_at": later})
    assert moved.get_json()["starts_at"].startswith("2026-12-07T18:00")
    attended = api["coordinator"].post(
        f"/meetings/{meeting_id}/attendance", {"user_ids": [people["pathologist"].id]}
    )
    assert attended.get_json() == {"attendees": [people["pathologist"].id]}
    cancelled = api["coordinator"].post(f"/meetings/{meeting_id}/cancel")
    assert cancelled.get_json()["status"] == "cancelled"
    again = api["coordinator"].post(f"/meetings/{meeting_id}/move", {"starts_at": later})
    assert again.status_code == 409


def test_the_api_builds_reorders_and_trims_the_agenda_and_refuses_a_draft(api, people):
    meeting_id = (
        api["coordinator"]
        .post("/meetings", {"starts_at": MONDAY.isoformat(), "place": "Room 4"})
        .get_json()[0]["id"]
    )
    first, second = (_case(people, CaseStatus.READY_FOR_BOARD).id for _ in range(2))
    draft = _case(people, CaseStatus.DRAFT).id
    for case_id in (first, second):
        added = api["coordinator"].post(f"/meetings/{meeting_id}/agenda", {"case_id": case_id})
        assert added.status_code == 201
    refused = api["coordinator"].post(f"/meetings/{meeting_id}/agenda", {"case_id": draft})
    assert refused.status_code == 409 and "draft" in refused.get_json()["error"]
    reordered = api["coordinator"].post(
        f"/meetings/{meeting_id}/agenda/reorder", {"case_ids": [second, first]}
    )
    assert reordered.get_json() == {"case_ids": [second, first]}
    removed = api["coordinator"].client.delete(
        f"/api/v1/meetings/{meeting_id}/agenda/{second}", headers=api["coordinator"].headers
    )
    assert removed.status_code == 204
    listed = api["coordinator"].get("/meetings").get_json()[0]
    assert [item["case_id"] for item in listed["agenda"]] == [first]


def test_the_api_takes_three_follow_ups_and_answers_them(api, people):
    case = _released(people)
    for n in range(3):
        asked = api["referrer"].post(f"/cases/{case.id}/follow-ups", {"question": f"Q{n}?"})
        assert asked.status_code == 201
    fourth = api["referrer"].post(f"/cases/{case.id}/follow-ups", {"question": "Q4?"})
    assert fourth.status_code == 422
    others = api["pathologist"].post(f"/cases/{case.id}/follow-ups", {"question": "Mine?"})
    assert others.status_code == 404
    answered = api["coordinator"].post(
        f"/follow-ups/{asked.get_json()['id']}/answer", {"answer": "Yes."}
    )
    assert answered.status_code == 200 and answered.get_json()["answer"] == "Yes."


def test_the_api_records_the_implementation_outcome(api, people):
    case = _released(people)
    missing = api["referrer"].post(f"/cases/{case.id}/implementation", {"implementation": "not"})
    assert missing.status_code == 422
    done = api["referrer"].post(
        f"/cases/{case.id}/implementation",
        {"implementation": "not", "note": "The patient chose another centre."},
    )
    assert done.status_code == 200 and done.get_json()["implementation"] == "not"
