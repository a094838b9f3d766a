"""The access rules of board/auth/policy.py beyond the matrix: the pure decision table,
practice sharing, immediate revocation, restricted cases and break-glass with expiry."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import select

from board.audit.models import AuditEvent
from board.auth.models import Institution
from board.auth.policy import Access, CaseFacts, Viewer, case_access
from board.auth.roles import Role
from board.extensions import db
from board.notifications.models import Notification
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api

ME, OTHER, HOME, AWAY = 1, 2, 10, 20
CASE = CaseFacts(referrer_id=ME, institution_id=HOME, active_reviewer_ids=frozenset({3}))


@pytest.mark.parametrize(
    ("viewer", "case", "break_glass", "access"),
    [
        (Viewer(ME, Role.REFERRER, HOME), CASE, False, Access.FULL),
        (Viewer(OTHER, Role.REFERRER, HOME), CASE, False, Access.NONE),  # sharing off
        (Viewer(OTHER, Role.REFERRER, HOME, shares_practice=True), CASE, False, Access.FULL),
        (Viewer(OTHER, Role.REFERRER, AWAY, shares_practice=True), CASE, False, Access.NONE),
        (Viewer(3, Role.PATHOLOGIST, AWAY), CASE, False, Access.FULL),
        (Viewer(4, Role.PATHOLOGIST, AWAY), CASE, False, Access.NONE),  # not assigned
        (
            Viewer(3, Role.PATHOLOGIST, AWAY),
            CaseFacts(ME, HOME, withdrawn=True, active_reviewer_ids=frozenset({3})),
            False,
            Access.NONE,
        ),
        (
            Viewer(3, Role.PATHOLOGIST, AWAY),
            CaseFacts(ME, HOME, restricted=True, active_reviewer_ids=frozenset({3})),
            False,
            Access.FULL,  # reviewers of a restricted case still review it
        ),
        (Viewer(5, Role.COORDINATOR, AWAY), CASE, False, Access.FULL),
        (
            Viewer(5, Role.COORDINATOR, AWAY),
            CaseFacts(ME, HOME, restricted=True),
            False,
            Access.BREAK_GLASS,
        ),
        (
            Viewer(5, Role.COORDINATOR, AWAY),
            CaseFacts(ME, HOME, restricted=True),
            True,
            Access.FULL,
        ),
        (Viewer(6, Role.ADMIN, AWAY), CASE, False, Access.NONE),
        (Viewer(6, Role.ADMIN, AWAY), CASE, True, Access.NONE),
    ],
)
def test_the_policy_decides_from_the_facts(viewer, case, break_glass, access):
    assert case_access(viewer, case, break_glass=break_glass) is access


@pytest.fixture
def world(client, ctx):
    home, away = f.institution("Home"), f.institution("Away")
    people = {
        "referrer": f.user(Role.REFERRER, home),
        "colleague": f.user(Role.REFERRER, home),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away),
        "coordinator": f.user(Role.COORDINATOR, away),
        "coordinator2": f.user(Role.COORDINATOR, away),
        "admin": f.user(Role.ADMIN, away),
    }
    api = {name: Api(client, person.email) for name, person in people.items()}
    case_id = (
        api["referrer"]
        .post("/cases", f.case_body(requested_specialties=["medical_oncology"]))
        .get_json()["id"]
    )
    api["referrer"].upload(case_id, "pathology_report", f.pdf())
    api["referrer"].post(f"/cases/{case_id}/submit")
    route_case(case_id)
    return {"people": people, "api": api, "case_id": case_id, "home": home.id}


def _audit(action: str) -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_practice_sharing_is_the_administrators_audited_switch(world):
    api, case_id = world["api"], world["case_id"]
    assert api["colleague"].get(f"/cases/{case_id}").status_code == 404
    assert case_id not in [c["id"] for c in api["colleague"].get("/cases").get_json()["cases"]]
    sharing = f"/institutions/{world['home']}/practice-sharing"
    assert api["referrer"].post(sharing, {"share": True}).status_code == 404
    assert api["coordinator"].post(sharing, {"share": True}).status_code == 404
    turned = api["admin"].post(sharing, {"share": True})
    assert turned.get_json()["share_cases_in_practice"] is True
    assert api["colleague"].get(f"/cases/{case_id}").status_code == 200
    assert case_id in [c["id"] for c in api["colleague"].get("/cases").get_json()["cases"]]
    # Sharing shows; it never lets a colleague change the case.
    assert api["colleague"].post(f"/cases/{case_id}/withdraw", {"reason": "x"}).status_code == 404
    (event,) = _audit("institution.practice_sharing_on")
    assert (event.actor_id, event.object_id) == (world["people"]["admin"].id, world["home"])
    api["admin"].post(sharing, {"share": False})
    assert api["colleague"].get(f"/cases/{case_id}").status_code == 404
    assert len(_audit("institution.practice_sharing_off")) == 1
    assert db.session.get(Institution, world["home"]).share_cases_in_practice is False


def test_a_reassigned_reviewer_is_denied_at_the_next_request(world):
    api, case_id = world["api"], world["case_id"]
    (assignment,) = api["pathologist"].get("/assignments").get_json()["assignments"]
    assert api["pathologist"].get(f"/cases/{case_id}").status_code == 200
    moved = api["coordinator"].post(f"/assignments/{assignment['id']}/reassign", {})
    assert moved.status_code == 200, moved.get_json()
    assert api["pathologist"].get(f"/cases/{case_id}").status_code == 404


def test_a_withdrawn_case_is_gone_for_its_reviewers_but_not_its_referrer(world):
    api, case_id = world["api"], world["case_id"]
    assert api["medonc"].get(f"/cases/{case_id}").status_code == 200
    withdrawn = api["referrer"].post(f"/cases/{case_id}/withdraw", {"reason": "Moved away"})
    assert withdrawn.status_code == 200
    assert api["medonc"].get(f"/cases/{case_id}").status_code == 404
    assert api["referrer"].get(f"/cases/{case_id}").status_code == 200


def _restrict(world) -> None:
    marked = world["api"]["referrer"].post(
        f"/cases/{world['case_id']}/restricted", {"restricted": True}
    )
    assert marked.status_code == 200 and marked.get_json()["restricted"] is True


REASON = "Covering the board this week; the case is on Thursday's agenda"


def test_a_restricted_case_is_listed_masked_and_opens_only_by_break_glass(world):
    api, case_id = world["api"], world["case_id"]
    assert (
        api["coordinator"].post(f"/cases/{case_id}/restricted", {"restricted": True}).status_code
        == 404
    )
    _restrict(world)
    listed = {c["id"]: c for c in api["coordinator"].get("/cases").get_json()["cases"]}
    assert listed[case_id]["restricted"] is True
    assert "patient" not in listed[case_id]
    refused = api["coordinator"].get(f"/cases/{case_id}")
    assert refused.status_code == 403
    assert "break-glass" in refused.get_json()["error"]
    assert "Ada Patient" not in refused.get_data(as_text=True)
    # Acting on it is refused too, and so is a download of its records.
    assert api["coordinator"].post(f"/cases/{case_id}/urgency", {"urgent": True}).status_code == 403
    # The reviewers still see it; the referrer too.
    assert api["pathologist"].get(f"/cases/{case_id}").status_code == 200
    assert api["referrer"].get(f"/cases/{case_id}").status_code == 200

    too_short = api["coordinator"].post(f"/cases/{case_id}/break-glass", {"reason": "need it"})
    assert too_short.status_code == 422
    assert (
        api["referrer"].post(f"/cases/{case_id}/break-glass", {"reason": REASON}).status_code == 404
    )
    granted = api["coordinator"].post(f"/cases/{case_id}/break-glass", {"reason": REASON})
    assert granted.status_code == 201, granted.get_json()
    opened = api["coordinator"].get(f"/cases/{case_id}")
    assert opened.status_code == 200
    assert opened.get_json()["patient"]["name"] == "Ada Patient"
    # Only the coordinator who broke the glass.
    assert api["coordinator2"].get(f"/cases/{case_id}").status_code == 403

    (event,) = _audit("case.break_glass")
    assert event.severity == "high"
    assert (event.actor_id, event.case_id) == (world["people"]["coordinator"].id, case_id)
    told = db.session.scalars(select(Notification).where(Notification.kind == "break_glass")).all()
    assert {n.user_id for n in told} == {
        world["people"]["coordinator"].id,
        world["people"]["coordinator2"].id,
    }
    assert all("Ada Patient" not in n.message and REASON not in n.message for n in told)


def test_break_glass_expires_after_the_configured_minutes(world, app):
    api, case_id = world["api"], world["case_id"]
    _restrict(world)
    assert app.config["BREAK_GLASS_MINUTES"] == 60
    start = dt.datetime.now(dt.UTC)
    with time_machine.travel(start, tick=False):
        granted = api["coordinator"].post(f"/cases/{case_id}/break-glass", {"reason": REASON})
        assert granted.status_code == 201
    with time_machine.travel(start + dt.timedelta(minutes=59), tick=False):
        assert api["coordinator"].get(f"/cases/{case_id}").status_code == 200
    with time_machine.travel(start + dt.timedelta(minutes=61), tick=False):
        assert api["coordinator"].get(f"/cases/{case_id}").status_code == 403


def test_the_coordinator_page_of_a_restricted_case_asks_for_a_reason(app, world):
    from tests.web.test_pages import World

    _restrict(world)
    case_id = world["case_id"]
    page = World(app, {"coordinator": world["people"]["coordinator"].id}).client("coordinator")
    board = page.get("/board").get_data(as_text=True)
    assert "restricted" in board and "Ada Patient" not in board
    sent = page.get(f"/cases/{case_id}")
    assert sent.status_code == 303 and sent.headers["Location"].endswith(
        f"/cases/{case_id}/break-glass"
    )
    form = page.get(f"/cases/{case_id}/break-glass").get_data(as_text=True)
    assert "Ada Patient" not in form and "reason" in form
    assert page.post(f"/cases/{case_id}/break-glass", data={"reason": "x"}).status_code == 422
    opened = page.post(f"/cases/{case_id}/break-glass", data={"reason": REASON})
    assert opened.status_code == 303
    assert "Ada Patient" in page.get(f"/cases/{case_id}").get_data(as_text=True)
