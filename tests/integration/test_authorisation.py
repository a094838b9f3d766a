"""Who sees what: every case endpoint is authorised per object, and audited."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from board.audit.models import AuditEvent
from board.auth.roles import Role
from board.extensions import db
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api


@pytest.fixture
def world(client, ctx):
    home, away = f.institution("Home"), f.institution("Away")
    people = {
        "referrer": f.user(Role.REFERRER, home),
        "other_referrer": f.user(Role.REFERRER, f.institution("Elsewhere")),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away),
        "bystander": f.user(Role.PATHOLOGIST, f.institution("Third")),
        "coordinator": f.user(Role.COORDINATOR, away),
        "admin": f.user(Role.ADMIN, away),
    }
    referrer = Api(client, people["referrer"].email)
    case_id = referrer.post(
        "/cases", f.case_body(requested_specialties=["medical_oncology"])
    ).get_json()["id"]
    record_id = referrer.upload(case_id, "pathology_report", f.pdf()).get_json()["id"]
    referrer.post(f"/cases/{case_id}/submit")
    # Two idle pathologists tie; the stable tie-break picks `pathologist` (lower id).
    route_case(case_id)
    apis = {name: Api(client, person.email) for name, person in people.items()}
    return {"people": people, "api": apis, "case_id": case_id, "record_id": record_id}


def test_a_case_that_is_not_yours_looks_exactly_like_a_missing_one(world):
    case_id = world["case_id"]
    for outsider in ("other_referrer", "admin"):
        denied = world["api"][outsider].get(f"/cases/{case_id}")
        missing = world["api"][outsider].get("/cases/999999")
        assert denied.status_code == missing.status_code == 404
        assert denied.get_json() == missing.get_json()


def test_only_the_assigned_reviewers_see_the_case(world):
    case_id = world["case_id"]
    assigned = {
        a["reviewer"]["id"]
        for a in world["api"]["coordinator"].get(f"/cases/{case_id}").get_json()["assignments"]
    }
    for name in ("pathologist", "medonc", "bystander"):
        status = world["api"][name].get(f"/cases/{case_id}").status_code
        expected = 200 if world["people"][name].id in assigned else 404
        assert status == expected, name
    assert world["api"]["bystander"].get(f"/cases/{case_id}").status_code == 404


def test_records_download_only_for_those_who_may_see_the_case(world):
    record = f"/records/{world['record_id']}"
    assert world["api"]["referrer"].get(record).data.startswith(b"%PDF-")
    assert world["api"]["coordinator"].get(record).status_code == 200
    for outsider in ("other_referrer", "admin"):
        assert world["api"][outsider].get(record).status_code == 404


def test_a_reviewer_who_declines_loses_sight_of_the_case_at_once(world):
    api = world["api"]["medonc"]
    (assignment,) = api.get("/assignments").get_json()["assignments"]
    assert api.get(f"/cases/{world['case_id']}").status_code == 200
    declined = api.post(f"/assignments/{assignment['id']}/decline", {"reason": "On leave"})
    assert declined.status_code == 200
    assert api.get(f"/cases/{world['case_id']}").status_code == 404
    assert api.get(f"/records/{world['record_id']}").status_code == 404


def test_reviewers_act_only_on_their_own_assignments(world):
    (assignment,) = world["api"]["medonc"].get("/assignments").get_json()["assignments"]
    intruder = world["api"]["pathologist"]
    for action in ("accept", "review"):
        response = intruder.post(f"/assignments/{assignment['id']}/{action}", f.review_body())
        assert response.status_code == 404


def test_only_the_coordinator_records_consensus_and_releases(world):
    case_id = world["case_id"]
    for name in ("referrer", "pathologist", "admin"):
        api = world["api"][name]
        assert api.post(f"/cases/{case_id}/consensus", {"summary": "x"}).status_code == 404
        assert api.post(f"/cases/{case_id}/release").status_code == 404


def test_reviewers_do_not_see_each_others_reviews_before_the_board(world):
    case_id = world["case_id"]
    for name in ("pathologist", "medonc"):
        api = world["api"][name]
        (assignment,) = api.get("/assignments").get_json()["assignments"]
        assert (
            api.post(f"/assignments/{assignment['id']}/review", f.review_body()).status_code == 201
        )
    seen_by_pathologist = world["api"]["pathologist"].get(f"/cases/{case_id}").get_json()
    assert [r["reviewer_id"] for r in seen_by_pathologist["reviews"]] == [
        world["people"]["pathologist"].id
    ]
    assert len(world["api"]["coordinator"].get(f"/cases/{case_id}").get_json()["reviews"]) == 2
    # The referrer sees reviews only in the released second opinion.
    assert world["api"]["referrer"].get(f"/cases/{case_id}").get_json()["reviews"] == []
    assert world["api"]["referrer"].get(f"/cases/{case_id}/second-opinion.pdf").status_code == 404


def test_every_read_and_denial_of_a_case_is_audited(world):
    case_id = world["case_id"]
    before = db.session.scalar(select(db.func.count()).select_from(AuditEvent))
    world["api"]["referrer"].get(f"/cases/{case_id}")
    world["api"]["other_referrer"].get(f"/cases/{case_id}")
    rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()[before:]
    assert [(r.action, r.actor_id, r.outcome) for r in rows] == [
        ("case_view", world["people"]["referrer"].id, "ok"),
        ("case_view", world["people"]["other_referrer"].id, "denied"),
    ]
    assert rows[0].case_id == case_id and rows[0].request_id and rows[0].source_ip
    # A denied read does not link the case to the outsider's trail.
    assert rows[1].case_id is None and rows[1].object_id == case_id
