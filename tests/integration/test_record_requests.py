"""Reviewers request records: the case waits on the referrer and its clock pauses
until the records arrive (or the referrer answers), then every due date moves on
by the time spent waiting."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from board.auth.roles import Role
from board.cases.models import Case
from board.cases.rules import RECORD_LABEL, RecordKind
from board.extensions import db
from board.notifications.models import Notification
from board.reviews.clock_service import run_clock
from board.reviews.models import Assignment
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


@pytest.fixture
def world(client, ctx):
    home, away = f.institution("Home Oncology"), f.institution("University Breast Center")
    people = {
        "referrer": f.person(Role.REFERRER, home, name="Dr. Rita Referrer"),
        "other_referrer": f.person(Role.REFERRER, f.institution("Elsewhere")),
        "pathologist": f.person(Role.PATHOLOGIST, away, name="Dr. Paula Pathologist"),
        "medonc": f.person(Role.MEDICAL_ONCOLOGIST, away, name="Dr. Otto Oncologist"),
        "bystander": f.person(Role.PATHOLOGIST, f.institution("Far Away")),
        "coordinator": f.person(Role.COORDINATOR, away),
    }
    return {"client": client, "people": people}


def api(world, who: str) -> Api:
    """A fresh login: under a travelling clock a token issued days ago has expired."""
    return Api(world["client"], world["people"][who].email)


def routed_case(world) -> int:
    """A submitted case routed to a pathologist and a medical oncologist."""
    referrer = api(world, "referrer")
    case_id = referrer.post(
        "/cases", f.case_body(requested_specialties=["medical_oncology"])
    ).get_json()["id"]
    assert referrer.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    assert referrer.post(f"/cases/{case_id}/submit").status_code == 202
    route_case(case_id)
    return case_id


def assignment_of(world, who: str) -> dict:
    (assignment,) = api(world, who).get("/assignments").get_json()["assignments"]
    return assignment


def ask(world, who: str, kinds: list[str], message: str = "Please send the MRI report.") -> dict:
    response = api(world, who).post(
        f"/assignments/{assignment_of(world, who)['id']}/records-request",
        {"kinds": kinds, "message": message},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def case_as(world, who: str, case_id: int) -> dict:
    response = api(world, who).get(f"/cases/{case_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def notes(world, who: str, kind: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(
                Notification.user_id == world["people"][who].id,
                Notification.kind == kind,
            )
            .order_by(Notification.id)
        )
    )


def test_a_records_request_makes_the_case_wait_and_an_upload_sends_it_back_to_review(world):
    case_id = routed_case(world)
    asked = ask(world, "pathologist", ["imaging_report"], "The MRI of 12 May, please.")
    assert asked["case_id"] == case_id
    assert asked["kinds"] == ["imaging_report"]
    assert asked["message"] == "The MRI of 12 May, please."
    assert asked["closed_at"] is None and asked["answer"] is None
    assert asked["created_at"]

    waiting = case_as(world, "referrer", case_id)
    assert waiting["status"] == "awaiting_records"
    assert waiting["clock"]["paused"] is True and waiting["clock"]["paused_at"]
    assert [r["id"] for r in waiting["record_requests"]] == [asked["id"]]
    for who in ("coordinator", "pathologist", "medonc"):
        assert [r["id"] for r in case_as(world, who, case_id)["record_requests"]] == [asked["id"]]
    assert len(notes(world, "coordinator", "records_requested")) == 1

    uploaded = api(world, "referrer").upload(case_id, "imaging_report", f.pdf("MRI report"))
    assert uploaded.status_code == 201, uploaded.get_json()

    resumed = case_as(world, "referrer", case_id)
    assert resumed["status"] == "in_review"
    assert resumed["clock"]["paused"] is False and resumed["clock"]["paused_at"] is None
    (closed,) = resumed["record_requests"]
    assert closed["closed_at"] is not None and closed["answer"] is None
    assert [e["to"] for e in resumed["timeline"]][-2:] == ["awaiting_records", "in_review"]


def test_records_requests_pause_and_resume_the_clock_under_a_frozen_clock(world):
    with time_machine.travel(T0, tick=False):
        case_id = routed_case(world)
        case = case_as(world, "coordinator", case_id)
        assert case["due_at"] == (T0 + 7 * DAY).isoformat()
        assert {a["due_at"] for a in case["assignments"]} == {(T0 + 7 * DAY).isoformat()}

    with time_machine.travel(T0 + DAY, tick=False):
        ask(world, "pathologist", ["imaging_report"])
        clock = case_as(world, "coordinator", case_id)["clock"]
        assert clock == {
            "paused": True,
            "paused_at": (T0 + DAY).isoformat(),
            "paused_seconds": 0,
        }

    with time_machine.travel(T0 + 3 * DAY, tick=False):
        assert api(world, "referrer").upload(case_id, "imaging_report", f.pdf()).status_code == 201
        case = case_as(world, "coordinator", case_id)
        assert case["status"] == "in_review"
        assert case["due_at"] == (T0 + 9 * DAY).isoformat()
        assert case["clock"] == {"paused": False, "paused_at": None, "paused_seconds": 2 * 86400}
        open_dues = {a["due_at"] for a in case["assignments"] if a["status"] == "offered"}
        assert open_dues == {(T0 + 9 * DAY).isoformat()}
        stored = db.session.get(Case, case_id)
        assert stored.paused_seconds == 2 * 86400


def test_nothing_runs_late_while_the_clock_is_paused_even_past_the_original_due_date(world):
    with time_machine.travel(T0, tick=False):
        case_id = routed_case(world)
    with time_machine.travel(T0 + 6 * DAY, tick=False):
        ask(world, "pathologist", ["operative_report"])

    with time_machine.travel(T0 + 8 * DAY, tick=False):  # a day past the original due date
        case = case_as(world, "coordinator", case_id)
        assert case["overdue"] is False
        assert all(a["overdue"] is False for a in case["assignments"])
        listed = api(world, "coordinator").get("/cases").get_json()["cases"]
        assert [c["overdue"] for c in listed] == [False]
        assert db.session.get(Case, case_id).is_overdue() is False
        assert run_clock().escalated == 0
        assert notes(world, "coordinator", "overdue") == []

    with time_machine.travel(T0 + 10 * DAY, tick=False):
        assert (
            api(world, "referrer").upload(case_id, "operative_report", f.pdf()).status_code == 201
        )
        case = case_as(world, "coordinator", case_id)
        assert case["due_at"] == (T0 + 11 * DAY).isoformat()
        assert case["overdue"] is False
        assert run_clock().escalated == 0

    with time_machine.travel(T0 + 11 * DAY + dt.timedelta(hours=1), tick=False):
        assert case_as(world, "coordinator", case_id)["overdue"] is True
        assert run_clock().escalated == 2  # the two open assignments, now truly late


def test_a_request_needs_known_record_kinds_and_a_message(world):
    case_id = routed_case(world)
    pathologist = api(world, "pathologist")
    url = f"/assignments/{assignment_of(world, 'pathologist')['id']}/records-request"

    none = pathologist.post(url, {"kinds": [], "message": "  "})
    assert none.status_code == 422
    by_field = {d["field"]: d["message"] for d in none.get_json()["details"]}
    assert set(by_field) == {"kinds", "message"}
    assert by_field["kinds"].startswith("is required: name at least one of pathology_report")
    assert by_field["message"].startswith("is required: say what you need")

    unknown = pathologist.post(url, {"kinds": ["imaging_report", "x_ray"], "message": "MRI"})
    assert unknown.status_code == 422
    (detail,) = unknown.get_json()["details"]
    assert detail["field"] == "kinds.1"
    assert detail["message"].startswith("'x_ray' is not a record kind; use one of")

    not_a_list = pathologist.post(url, {"kinds": "imaging_report", "message": "MRI"})
    assert not_a_list.status_code == 422
    assert not_a_list.get_json()["details"][0]["field"] == "kinds"

    assert case_as(world, "coordinator", case_id)["status"] == "in_review"
    assert case_as(world, "coordinator", case_id)["record_requests"] == []


def test_only_the_assignments_own_reviewer_may_ask_and_only_while_it_is_open(world):
    case_id = routed_case(world)
    assignment = assignment_of(world, "pathologist")
    url = f"/assignments/{assignment['id']}/records-request"
    body = {"kinds": ["imaging_report"], "message": "MRI please"}

    assert api(world, "bystander").post(url, body).status_code == 404
    assert api(world, "medonc").post(url, body).status_code == 404
    assert api(world, "referrer").post(url, body).status_code == 404
    assert (
        api(world, "pathologist").post("/assignments/999999/records-request", body).status_code
        == 404
    )

    pathologist = api(world, "pathologist")
    assert (
        pathologist.post(f"/assignments/{assignment['id']}/review", f.review_body()).status_code
        == 201
    )
    completed = pathologist.post(url, body)
    assert completed.status_code == 409
    assert "completed" in completed.get_json()["error"]
    assert case_as(world, "coordinator", case_id)["status"] == "in_review"


def test_only_the_cases_own_referrer_may_answer_a_request_or_upload_to_it(world):
    case_id = routed_case(world)
    asked = ask(world, "pathologist", ["imaging_report"])
    url = f"/record-requests/{asked['id']}/answer"

    other = api(world, "other_referrer")
    assert other.post(url, {"answer": "No MRI was done."}).status_code == 404
    assert other.upload(case_id, "imaging_report", f.pdf()).status_code == 404
    assert api(world, "pathologist").post(url, {"answer": "No MRI."}).status_code == 404
    assert api(world, "coordinator").post(url, {"answer": "No MRI."}).status_code == 404
    assert (
        api(world, "referrer").post("/record-requests/999999/answer", {"answer": "x"}).status_code
        == 404
    )

    empty = api(world, "referrer").post(url, {"answer": " "})
    assert empty.status_code == 422
    assert empty.get_json()["details"][0]["field"] == "answer"
    assert case_as(world, "coordinator", case_id)["status"] == "awaiting_records"


def test_the_referrer_may_answer_a_request_in_words_and_the_case_goes_back_to_review(world):
    case_id = routed_case(world)
    asked = ask(world, "pathologist", ["imaging_report"])
    referrer = api(world, "referrer")
    answered = referrer.post(
        f"/record-requests/{asked['id']}/answer", {"answer": "No MRI was done."}
    )
    assert answered.status_code == 200, answered.get_json()
    assert answered.get_json()["answer"] == "No MRI was done."
    assert answered.get_json()["closed_at"] is not None

    case = case_as(world, "pathologist", case_id)
    assert case["status"] == "in_review"
    assert case["record_requests"][0]["answer"] == "No MRI was done."
    again = referrer.post(f"/record-requests/{asked['id']}/answer", {"answer": "Still none."})
    assert again.status_code == 409


def test_the_referrer_is_told_exactly_which_records_are_asked_and_nothing_about_the_patient(
    world,
):
    case_id = routed_case(world)
    ask(world, "pathologist", ["imaging_report", "operative_report"], "Ada's MRI from May.")
    (note,) = notes(world, "referrer", "records_requested")
    assert note.case_id == case_id
    assert f"case #{case_id}" in note.message
    asked = {RECORD_LABEL[RecordKind.IMAGING_REPORT], RECORD_LABEL[RecordKind.OPERATIVE_REPORT]}
    for kind, label in RECORD_LABEL.items():
        assert (label in note.message) is (label in asked), kind
    assert "breast pathologist" in note.message
    # No patient data, not the reviewer's free text (it may name the patient), no name.
    for leak in ("Ada", "Patient", "MRN-0001", "1968", "Paula", "May"):
        assert leak not in note.message
    for note in notes(world, "coordinator", "records_requested"):
        assert "Ada" not in note.message and "MRN" not in note.message


def test_an_upload_of_only_some_of_the_kinds_asked_keeps_the_case_waiting(world):
    case_id = routed_case(world)
    ask(world, "pathologist", ["imaging_report", "operative_report"])
    referrer = api(world, "referrer")
    assert referrer.upload(case_id, "imaging_report", f.pdf()).status_code == 201
    case = case_as(world, "coordinator", case_id)
    assert case["status"] == "awaiting_records" and case["clock"]["paused"] is True
    assert referrer.upload(case_id, "operative_report", f.pdf()).status_code == 201
    assert case_as(world, "coordinator", case_id)["status"] == "in_review"


def test_a_record_uploaded_before_the_request_does_not_answer_it(world):
    case_id = routed_case(world)  # the pathology report was uploaded with the draft
    ask(world, "pathologist", ["pathology_report"], "The surgical pathology, please.")
    assert api(world, "referrer").upload(case_id, "imaging_report", f.pdf()).status_code == 201
    assert case_as(world, "coordinator", case_id)["status"] == "awaiting_records"
    assert api(world, "referrer").upload(case_id, "pathology_report", f.pdf()).status_code == 201
    assert case_as(world, "coordinator", case_id)["status"] == "in_review"


def test_the_reviewers_with_open_assignments_are_told_when_the_records_arrive(world):
    case_id = routed_case(world)
    ask(world, "pathologist", ["imaging_report"])
    assert notes(world, "pathologist", "records_arrived") == []
    api(world, "referrer").upload(case_id, "imaging_report", f.pdf())
    for who in ("pathologist", "medonc"):
        (note,) = notes(world, who, "records_arrived")
        assert note.case_id == case_id and f"case #{case_id}" in note.message
        assert "Ada" not in note.message


def test_with_two_open_requests_the_clock_resumes_only_when_both_are_closed(world):
    with time_machine.travel(T0, tick=False):
        case_id = routed_case(world)
    with time_machine.travel(T0 + DAY, tick=False):
        first = ask(world, "pathologist", ["imaging_report"])
    with time_machine.travel(T0 + 2 * DAY, tick=False):
        second = ask(world, "medonc", ["medication_list"])
        assert (
            case_as(world, "coordinator", case_id)["clock"]["paused_at"] == (T0 + DAY).isoformat()
        )
    with time_machine.travel(T0 + 3 * DAY, tick=False):
        assert api(world, "referrer").upload(case_id, "imaging_report", f.pdf()).status_code == 201
        case = case_as(world, "coordinator", case_id)
        assert case["status"] == "awaiting_records" and case["clock"]["paused"] is True
        assert case["due_at"] == (T0 + 7 * DAY).isoformat()
        states = {r["id"]: r["closed_at"] is None for r in case["record_requests"]}
        assert states == {first["id"]: False, second["id"]: True}
        # The first reviewer hears their request was met; nobody hears the clock runs.
        assert len(notes(world, "pathologist", "records_arrived")) == 1
        assert notes(world, "medonc", "records_arrived") == []
    with time_machine.travel(T0 + 4 * DAY, tick=False):
        answered = api(world, "referrer").post(
            f"/record-requests/{second['id']}/answer", {"answer": "The list is in the plan."}
        )
        assert answered.status_code == 200
        case = case_as(world, "coordinator", case_id)
        assert case["status"] == "in_review"
        assert case["clock"] == {"paused": False, "paused_at": None, "paused_seconds": 3 * 86400}
        assert case["due_at"] == (T0 + 10 * DAY).isoformat()
        assert len(notes(world, "medonc", "records_arrived")) == 1


def test_reviews_can_be_signed_while_the_case_waits_and_it_stays_waiting(world):
    case_id = routed_case(world)
    asked = ask(world, "pathologist", ["imaging_report"])
    for who in ("pathologist", "medonc"):
        signed = api(world, who).post(
            f"/assignments/{assignment_of(world, who)['id']}/review", f.review_body()
        )
        assert signed.status_code == 201, signed.get_json()
    assert case_as(world, "coordinator", case_id)["status"] == "awaiting_records"

    api(world, "referrer").post(f"/record-requests/{asked['id']}/answer", {"answer": "None done."})
    assert case_as(world, "coordinator", case_id)["status"] == "ready_for_board"
    assert len(notes(world, "coordinator", "ready_for_board")) == 1
    # Nobody has an open assignment left to be told about the records.
    assert notes(world, "medonc", "records_arrived") == []


def test_a_second_request_while_waiting_keeps_the_first_pause(world):
    case_id = routed_case(world)
    ask(world, "pathologist", ["imaging_report"])
    paused_at = case_as(world, "coordinator", case_id)["clock"]["paused_at"]
    ask(world, "pathologist", ["discharge_summary"])
    case = case_as(world, "coordinator", case_id)
    assert case["clock"]["paused_at"] == paused_at
    assert len(case["record_requests"]) == 2
    assert [e["to"] for e in case["timeline"]].count("awaiting_records") == 1


def test_records_can_only_be_added_to_a_draft_or_a_case_awaiting_them(world):
    case_id = routed_case(world)
    refused = api(world, "referrer").upload(case_id, "imaging_report", f.pdf())
    assert refused.status_code == 409
    assert "awaits records" in refused.get_json()["error"]
    # A case awaiting records still cannot have its fields or records changed.
    ask(world, "pathologist", ["imaging_report"])
    referrer = api(world, "referrer")
    assert (
        referrer.client.put(
            f"/api/v1/cases/{case_id}", headers=referrer.headers, json=f.case_body()
        ).status_code
        == 409
    )


def test_a_withdrawn_case_takes_no_more_records_or_requests(world):
    case_id = routed_case(world)
    asked = ask(world, "pathologist", ["imaging_report"])
    referrer = api(world, "referrer")
    assert (
        referrer.post(f"/cases/{case_id}/withdraw", {"reason": "Patient moved."}).status_code == 200
    )
    assert referrer.upload(case_id, "imaging_report", f.pdf()).status_code == 409
    answer = referrer.post(f"/record-requests/{asked['id']}/answer", {"answer": "n/a"})
    assert answer.status_code == 409


def test_a_records_request_and_its_answer_are_audited(world):
    from board.audit.models import AuditEvent

    case_id = routed_case(world)
    asked = ask(world, "pathologist", ["imaging_report"])
    api(world, "referrer").post(f"/record-requests/{asked['id']}/answer", {"answer": "None."})
    actions = set(
        db.session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == case_id))
    )
    assert {"record_request", "record_request_close", "case_clock_resume"} <= actions


def test_the_stored_open_assignments_move_with_the_clock_but_completed_ones_do_not(world):
    with time_machine.travel(T0, tick=False):
        case_id = routed_case(world)
        signed = api(world, "medonc").post(
            f"/assignments/{assignment_of(world, 'medonc')['id']}/review", f.review_body()
        )
        assert signed.status_code == 201
    with time_machine.travel(T0 + DAY, tick=False):
        asked = ask(world, "pathologist", ["imaging_report"])
    with time_machine.travel(T0 + 2 * DAY, tick=False):
        api(world, "referrer").post(f"/record-requests/{asked['id']}/answer", {"answer": "No."})
    dues = {
        a.specialty: a.due_at
        for a in db.session.scalars(select(Assignment).where(Assignment.case_id == case_id))
    }
    assert dues == {"pathology": T0 + 8 * DAY, "medical_oncology": T0 + 7 * DAY}


def test_a_reviewer_who_declines_withdraws_their_request_and_the_clock_runs_again(world):
    case_id = routed_case(world)
    ask(world, "pathologist", ["imaging_report"])
    assert case_as(world, "coordinator", case_id)["status"] == "awaiting_records"
    declined = api(world, "pathologist").post(
        f"/assignments/{assignment_of(world, 'pathologist')['id']}/decline",
        {"reason": "Conflict of interest discovered"},
    )
    assert declined.status_code == 200, declined.get_json()
    case = case_as(world, "coordinator", case_id)
    (request,) = case["record_requests"]
    assert request["closed_at"] is not None and request["answer"].startswith("Withdrawn")
    assert case["clock"]["paused"] is False
    assert case["status"] != "awaiting_records"


def test_the_coordinator_can_add_a_reviewer_while_the_case_awaits_records(world):
    case_id = routed_case(world)
    ask(world, "pathologist", ["imaging_report"])
    added = api(world, "coordinator").post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["people"]["bystander"].id}
    )
    assert added.status_code == 201, added.get_json()
    assert case_as(world, "coordinator", case_id)["status"] == "awaiting_records"


def test_a_paused_assignment_past_its_original_due_date_is_not_overdue(world):
    with time_machine.travel(T0, tick=False) as clock:
        case_id = routed_case(world)
        ask(world, "pathologist", ["imaging_report"])
        clock.move_to(T0 + 10 * DAY)
        assignment = db.session.scalar(
            select(Assignment).where(
                Assignment.case_id == case_id, Assignment.specialty == "pathology"
            )
        )
        db.session.refresh(assignment)
        assert assignment.is_overdue() is False
