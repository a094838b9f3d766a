"""The coordinator fixes routing: the unroutable queue, assigning by hand,
reassigning, declines that re-route, and overdue flags."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from board.auth.roles import Role
from board.extensions import db
from board.notifications.models import Notification
from board.notifications.services import send_email
from board.outbox.models import OutboxMessage
from board.reviews.clock_service import run_clock
from board.reviews.models import Assignment
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api
from tests.support.processes import mail_sink


@pytest.fixture
def world(client, ctx):
    home, away = f.institution("Home"), f.institution("Away", ["Acme Health"])
    people = {
        "referrer": f.user(Role.REFERRER, home),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "second_pathologist": f.user(Role.PATHOLOGIST, f.institution("Far")),
        "home_pathologist": f.user(Role.PATHOLOGIST, home),
        "coordinator": f.user(Role.COORDINATOR, away),
    }
    return {"people": people, "api": {k: Api(client, p.email) for k, p in people.items()}}


def submitted_case(api: Api, **overrides) -> int:
    case_id = api.post("/cases", f.case_body(**overrides)).get_json()["id"]
    api.upload(case_id, "pathology_report", f.pdf())
    assert api.post(f"/cases/{case_id}/submit").status_code == 202
    return case_id


def notes_for(user_id: int, kind: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user_id, Notification.kind == kind)
        )
    )


def test_a_case_nobody_may_review_goes_to_the_unroutable_queue_and_tells_the_coordinator(world):
    insurance = {
        "insurer": "Closed Network",
        "second_opinion_covered": True,
        "pathology_review_covered": True,
        "network_restriction": True,
    }
    case_id = submitted_case(world["api"]["referrer"], insurance=insurance)
    route_case(case_id)
    case = world["api"]["coordinator"].get(f"/cases/{case_id}").get_json()
    assert case["status"] == "unroutable"
    assert "outside the Closed Network network" in case["routing_note"]
    assert len(notes_for(world["people"]["coordinator"].id, "unroutable")) == 1
    listed = world["api"]["coordinator"].get("/cases?status=unroutable").get_json()["cases"]
    assert [c["id"] for c in listed] == [case_id]


def test_assigning_by_hand_clears_the_unroutable_status_but_never_breaks_conflict_of_interest(
    world,
):
    insurance = {
        "insurer": "Closed Network",
        "second_opinion_covered": True,
        "pathology_review_covered": True,
        "network_restriction": True,
    }
    case_id = submitted_case(world["api"]["referrer"], insurance=insurance)
    route_case(case_id)
    coordinator = world["api"]["coordinator"]
    refused = coordinator.post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["people"]["home_pathologist"].id}
    )
    assert refused.status_code == 422
    assert "conflict of interest" in refused.get_json()["details"][0]["message"]
    assigned = coordinator.post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["people"]["pathologist"].id}
    )
    assert assigned.status_code == 201, assigned.get_json()
    assert "assigned by the coordinator" in assigned.get_json()["reason"]
    assert coordinator.get(f"/cases/{case_id}").get_json()["status"] == "in_review"


def test_a_decline_routes_the_case_to_the_next_eligible_reviewer(world):
    case_id = submitted_case(world["api"]["referrer"])
    route_case(case_id)
    first = world["api"]["pathologist"]
    (assignment,) = first.get("/assignments").get_json()["assignments"]
    assert (
        first.post(
            f"/assignments/{assignment['id']}/decline", {"reason": "Conflict: I know the patient"}
        ).status_code
        == 200
    )
    message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message.task == "routing.route_case" and message.payload == {"case_id": case_id}
    route_case(case_id, message.id)
    case = world["api"]["coordinator"].get(f"/cases/{case_id}").get_json()
    active = [a for a in case["assignments"] if a["status"] == "offered"]
    assert [a["reviewer"]["id"] for a in active] == [world["people"]["second_pathologist"].id]
    declined = next(a for a in case["assignments"] if a["status"] == "declined")
    assert declined["decline_reason"] == "Conflict: I know the patient"
    assert len(notes_for(world["people"]["coordinator"].id, "declined")) == 1


def test_reassigning_tells_the_first_reviewer_and_names_the_second(world):
    case_id = submitted_case(world["api"]["referrer"])
    route_case(case_id)
    (assignment,) = world["api"]["pathologist"].get("/assignments").get_json()["assignments"]
    moved = world["api"]["coordinator"].post(
        f"/assignments/{assignment['id']}/reassign",
        {"reviewer_id": world["people"]["second_pathologist"].id},
    )
    assert moved.status_code == 200
    assert moved.get_json()["status"] == "reassigned"
    assert len(notes_for(world["people"]["pathologist"].id, "reassigned")) == 1
    assert world["api"]["pathologist"].get(f"/cases/{case_id}").status_code == 404
    (new,) = world["api"]["second_pathologist"].get("/assignments").get_json()["assignments"]
    assert new["case_id"] == case_id and new["status"] == "offered"
    again = world["api"]["coordinator"].post(f"/assignments/{assignment['id']}/reassign", {})
    assert again.status_code == 409


def test_an_overdue_assignment_is_flagged_to_the_coordinator_once(world):
    case_id = submitted_case(world["api"]["referrer"])
    route_case(case_id)
    assignment = db.session.scalar(select(Assignment).where(Assignment.case_id == case_id))
    assignment.due_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    db.session.commit()
    assert run_clock().escalated == 1
    assert run_clock().escalated == 0
    (note,) = notes_for(world["people"]["coordinator"].id, "overdue")
    assert f"case #{case_id}" in note.message
    listed = world["api"]["pathologist"].get("/assignments").get_json()["assignments"]
    assert listed[0]["overdue"] is True


def test_an_email_names_the_case_but_carries_no_patient_details_and_goes_once(app, world):
    case_id = submitted_case(world["api"]["referrer"])
    route_case(case_id)
    (note,) = notes_for(world["people"]["pathologist"].id, "assignment")
    with mail_sink() as sink:
        app.config["MAIL_PORT"] = sink.port
        try:
            assert send_email(note.id) is True
            assert send_email(note.id) is False
        finally:
            app.config["MAIL_PORT"] = 1
    (email,) = sink.messages
    assert email["To"] == world["people"]["pathologist"].email
    assert email["Subject"] == f"New review assignment (case #{case_id})"
    text = email.as_string()
    assert "Ada Patient" not in text and "MRN-0001" not in text and "1968" not in text


def test_a_referrer_can_withdraw_with_a_reason(world):
    case_id = submitted_case(world["api"]["referrer"])
    api = world["api"]["referrer"]
    assert api.post(f"/cases/{case_id}/withdraw", {"reason": ""}).status_code == 422
    assert (
        api.post(
            f"/cases/{case_id}/withdraw", {"reason": "Patient chose another centre"}
        ).get_json()["status"]
        == "withdrawn"
    )
    route_case(case_id)  # a routing message still in flight does nothing
    assert db.session.scalar(select(Assignment).where(Assignment.case_id == case_id)) is None


def test_a_refused_reassignment_changes_nothing(world):
    case_id = submitted_case(world["api"]["referrer"])
    route_case(case_id)
    (assignment,) = world["api"]["pathologist"].get("/assignments").get_json()["assignments"]
    refused = world["api"]["coordinator"].post(
        f"/assignments/{assignment['id']}/reassign",
        {"reviewer_id": world["people"]["home_pathologist"].id},
    )
    assert refused.status_code == 422
    db.session.expire_all()
    assert db.session.get(Assignment, assignment["id"]).status == "offered"
    assert notes_for(world["people"]["pathologist"].id, "reassigned") == []
