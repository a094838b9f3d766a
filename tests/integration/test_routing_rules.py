"""The routing rules through the API: capacity, leave, the breast sub-specialty, the
pathology re-review and its coverage, the coordinator's specialty changes, urgent
cases and their due dates, the auto-reassign flag, and reviewers' times away."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import event, select

from board.auth.models import AvailabilityWindow, User
from board.auth.roles import Role
from board.cases.models import Case
from board.extensions import db
from board.notifications.models import Notification
from board.outbox.models import OutboxMessage
from board.routing.services import roster, route_case
from tests.support import factories as f
from tests.support.api import Api

ACME = "Acme Health"


@pytest.fixture
def world(client, ctx):
    home, away = f.institution("Home"), f.institution("Away", [ACME])
    far = f.institution("Far", [ACME])
    people = {
        "referrer": f.user(Role.REFERRER, home),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "second_pathologist": f.user(Role.PATHOLOGIST, far),
        "surgeon": f.user(Role.BREAST_SURGEON, away),
        "radiologist": f.user(Role.BREAST_RADIOLOGIST, far),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away),
        "coordinator": f.user(Role.COORDINATOR, away),
    }
    ids = {name: person.id for name, person in people.items()}
    return {
        "ids": ids,
        "client": client,
        "api": {name: Api(client, person.email) for name, person in people.items()},
    }


def api(world: dict[str, Any], who: str) -> Api:
    return world["api"][who]  # type: ignore[no-any-return]


def insurance(covered: bool = True) -> dict[str, Any]:
    return {
        "insurer": ACME,
        "second_opinion_covered": True,
        "required_by_insurer": False,
        "pathology_review_covered": covered,
    }


def submitted(world: dict[str, Any], *, route: bool = True, **overrides: Any) -> int:
    """A complete case through the API, routed at once unless told otherwise."""
    referrer = api(world, "referrer")
    created = referrer.post("/cases", f.case_body(**overrides))
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    assert referrer.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    if overrides.get("timepoint") == "pre_surgery":
        assert referrer.upload(case_id, "imaging_report", f.pdf("MRI")).status_code == 201
    submitted = referrer.post(f"/cases/{case_id}/submit")
    assert submitted.status_code == 202, submitted.get_json()
    if route:
        route_case(case_id)
    return case_id


def as_coordinator(world: dict[str, Any], case_id: int) -> dict[str, Any]:
    db.session.expire_all()
    return api(world, "coordinator").get(f"/cases/{case_id}").get_json()  # type: ignore[no-any-return]


def active(case: dict[str, Any]) -> dict[str, int]:
    """Specialty -> reviewer id of the open or completed primary assignments."""
    return {
        a["specialty"]: a["reviewer"]["id"]
        for a in case["assignments"]
        if a["status"] in ("offered", "accepted", "completed") and a["purpose"] == "primary"
    }


def reason_for(case: dict[str, Any], specialty: str) -> str:
    (reason,) = [
        a["reason"]
        for a in case["assignments"]
        if a["specialty"] == specialty and a["status"] in ("offered", "accepted", "completed")
    ]
    return reason  # type: ignore[no-any-return]


def set_user(user_id: int, **values: Any) -> None:
    user = db.session.get(User, user_id)
    for name, value in values.items():
        setattr(user, name, value)
    db.session.commit()


def route_pending(case_id: int) -> None:
    """Delivers the routing messages the outbox holds for a case, as the worker would."""
    messages = db.session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.task == "routing.route_case", OutboxMessage.status != "done"
        )
    ).all()
    for message in [m for m in messages if m.payload == {"case_id": case_id}]:
        route_case(case_id, message.id)


def notes(user_id: int, kind: str) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(Notification.user_id == user_id, Notification.kind == kind)
        )
    )


# --- Who may review ------------------------------------------------------------------


def test_a_reviewer_at_capacity_is_passed_over_and_when_all_are_the_case_is_unroutable(world):
    ids = world["ids"]
    set_user(ids["pathologist"], max_open_assignments=1)
    set_user(ids["second_pathologist"], max_open_assignments=1)
    first = submitted(world)
    second = submitted(world)
    # Each pathologist now holds one open assignment: both are full.
    assert {active(as_coordinator(world, c))["pathology"] for c in (first, second)} == {
        ids["pathologist"],
        ids["second_pathologist"],
    }
    third = as_coordinator(world, submitted(world))
    assert third["status"] == "unroutable"
    assert "at capacity (1 of 1 open)" in third["routing_note"]


def test_a_reviewer_on_leave_is_passed_over_and_the_gap_says_until_when(world):
    ids = world["ids"]
    now = dt.datetime.now(dt.UTC)
    back = now + dt.timedelta(days=5)
    for who in ("pathologist", "second_pathologist"):
        added = api(world, who).post(
            "/availability",
            {
                "starts_at": (now - dt.timedelta(days=1)).isoformat(),
                "ends_at": back.isoformat(),
                "note": "Annual leave",
            },
        )
        assert added.status_code == 201, added.get_json()
    case = as_coordinator(world, submitted(world))
    assert case["status"] == "unroutable"
    assert f"away until {back:%Y-%m-%d}" in case["routing_note"]

    # One comes back early: she removes her window and the case can be routed to her.
    (window,) = api(world, "second_pathologist").get("/availability").get_json()["availability"]
    removed = world["client"].delete(
        f"/api/v1/availability/{window['id']}", headers=api(world, "second_pathologist").headers
    )
    assert removed.status_code == 204
    route_case(case["id"])
    assert active(as_coordinator(world, case["id"])) == {"pathology": ids["second_pathologist"]}


def test_a_reviewer_without_the_breast_sub_specialty_is_never_routed_a_case(world):
    ids = world["ids"]
    set_user(ids["pathologist"], breast_subspecialty=False)
    case = as_coordinator(world, submitted(world))
    assert active(case) == {"pathology": ids["second_pathologist"]}
    set_user(ids["second_pathologist"], breast_subspecialty=False)
    stuck = as_coordinator(world, submitted(world))
    assert stuck["status"] == "unroutable"
    assert "none eligible: no breast sub-specialty" in stuck["routing_note"]


def test_the_roster_is_read_in_a_fixed_number_of_queries_whatever_its_size(world):
    def queries() -> int:
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            reviewers = roster()
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        assert all(isinstance(r.away, tuple) for r in reviewers)
        return len(statements)

    small = queries()
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    for _ in range(8):
        user = f.user(Role.PATHOLOGIST, f.institution())
        db.session.add(
            AvailabilityWindow(user_id=user.id, starts_at=soon, ends_at=soon + dt.timedelta(days=2))
        )
    db.session.commit()
    db.session.expire_all()
    assert queries() == small


# --- What the case needs: pathology re-review and the coordinator's changes ------------


def test_a_covered_pathology_re_review_is_routed_with_its_reason(world):
    case = as_coordinator(world, submitted(world, timepoint="pre_surgery"))
    assert set(active(case)) == {
        "breast_surgery",
        "breast_radiology",
        "medical_oncology",
        "pathology",
    }
    assert reason_for(case, "pathology").startswith(
        f"pathology re-review: a pathology report is attached and {ACME} covers it"
    )
    assert {"specialty": "pathology", "reason": reason_for(case, "pathology").split(";")[0]} in (
        case["routing"]["required"]
    )
    assert case["routing"]["decisions"] == []


def test_an_uncovered_pathology_re_review_waits_on_the_coordinator_who_can_add_it(world):
    ids = world["ids"]
    case_id = submitted(world, timepoint="pre_surgery", insurance=insurance(covered=False))
    case = as_coordinator(world, case_id)
    assert "pathology" not in active(case)
    assert case["status"] == "in_review"
    why = f"pathology re-review is not covered by {ACME}: the coordinator decides"
    assert case["routing"]["decisions"] == [{"specialty": "pathology", "reason": why}]
    assert why in case["routing_note"]
    # The coordinator hears of it once, however often the case is routed.
    route_case(case_id)
    (note,) = notes(ids["coordinator"], "routing_decision")
    assert why in note.message

    added = api(world, "coordinator").post(f"/cases/{case_id}/specialties", {"add": ["pathology"]})
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["routing"]["decisions"] == []
    route_pending(case_id)
    case = as_coordinator(world, case_id)
    assert active(case)["pathology"] in (ids["pathologist"], ids["second_pathologist"])
    assert reason_for(case, "pathology").startswith(
        f"added by the coordinator, although {ACME} does not cover pathology re-review"
    )


def test_after_biopsy_the_pathologist_reviews_even_when_the_re_review_is_not_covered(world):
    case = as_coordinator(world, submitted(world, insurance=insurance(covered=False)))
    assert "pathology" in active(case)
    assert reason_for(case, "pathology").startswith(
        "required at the post-biopsy timepoint: the pathologist always re-reads the biopsy, "
        f"although {ACME} does not cover pathology re-review"
    )
    assert case["routing"]["decisions"] == []


def test_removing_a_specialty_takes_its_open_assignment_off_and_routing_leaves_it(world):
    ids = world["ids"]
    case_id = submitted(world, timepoint="pre_surgery")
    coordinator = api(world, "coordinator")
    removed = coordinator.post(f"/cases/{case_id}/specialties", {"remove": ["breast_radiology"]})
    assert removed.status_code == 200, removed.get_json()
    routing = removed.get_json()["routing"]
    assert "breast_radiology" not in {r["specialty"] for r in routing["required"]}
    assert routing["removed"] == [
        {
            "specialty": "breast_radiology",
            "reason": "removed by the coordinator (was: required at the pre-surgery timepoint)",
        }
    ]
    radiology = next(
        a for a in removed.get_json()["assignments"] if a["specialty"] == "breast_radiology"
    )
    assert radiology["status"] == "reassigned"
    (told,) = notes(ids["radiologist"], "reassigned")
    assert f"took breast radiology off case #{case_id}" in told.message
    assert api(world, "radiologist").get(f"/cases/{case_id}").status_code == 404

    route_pending(case_id)
    case = as_coordinator(world, case_id)
    assert set(active(case)) == {"breast_surgery", "medical_oncology", "pathology"}
    assert case["status"] == "in_review"

    # Adding it back routes it again (to a radiologist who was not taken off it).
    again = coordinator.post(f"/cases/{case_id}/specialties", {"add": ["breast_radiology"]})
    assert again.get_json()["routing"]["removed"] == []
    other = f.user(Role.BREAST_RADIOLOGIST, f.institution())
    route_pending(case_id)
    assert active(as_coordinator(world, case_id))["breast_radiology"] == other.id


def test_removing_a_specialty_never_touches_a_signed_review(world):
    case_id = submitted(world)
    # Equal load and never assigned: the lower id, the first pathologist.
    reviewer = api(world, "pathologist")
    (assignment,) = reviewer.get("/assignments").get_json()["assignments"]
    signed = reviewer.post(f"/assignments/{assignment['id']}/review", f.review_body())
    assert signed.status_code == 201
    removed = api(world, "coordinator").post(
        f"/cases/{case_id}/specialties", {"remove": ["pathology"]}
    )
    assert removed.status_code == 200
    (kept,) = removed.get_json()["assignments"]
    assert kept["status"] == "completed"
    assert len(removed.get_json()["reviews"]) == 1


def test_the_coordinator_alone_changes_specialties_and_the_words_say_what_is_wrong(world):
    case_id = submitted(world)
    coordinator = api(world, "coordinator")
    path = f"/cases/{case_id}/specialties"

    def details(response: Any) -> dict[str, str]:
        assert response.status_code == 422, response.get_json()
        return {d["field"]: d["message"] for d in response.get_json()["details"]}

    assert details(coordinator.post(path, {"add": ["dermatology"]}))["add.0"].startswith(
        "must be one of pathology, breast_surgery"
    )
    assert details(coordinator.post(path, {})) == {
        "add": "or remove must name at least one specialty"
    }
    assert details(coordinator.post(path, {"add": ["pathology"], "remove": ["pathology"]})) == {
        "remove": "also lists breast pathology to add; choose one"
    }
    assert details(coordinator.post(path, {"add": "pathology"}))["add"] == "must be a list"
    assert api(world, "referrer").post(path, {"add": ["pathology"]}).status_code == 404
    assert api(world, "pathologist").post(path, {"add": ["pathology"]}).status_code == 404
    withdrawn = api(world, "referrer").post(f"/cases/{case_id}/withdraw", {"reason": "Moved"})
    assert withdrawn.status_code == 200
    assert coordinator.post(path, {"add": ["breast_surgery"]}).status_code == 409


# --- Urgent cases ---------------------------------------------------------------------


def test_an_urgent_case_is_due_in_three_days_and_its_assignments_too(world):
    case_id = submitted(world, urgent=True)
    case = db.session.get(Case, case_id)
    assert case.urgent is True
    assert case.due_at - case.submitted_at == dt.timedelta(days=3)
    (assignment,) = as_coordinator(world, case_id)["assignments"]
    assert dt.datetime.fromisoformat(assignment["due_at"]) == case.due_at
    assert as_coordinator(world, case_id)["urgent"] is True


def test_a_case_without_the_urgent_field_is_due_in_seven_days(world):
    body = f.case_body()
    assert "urgent" not in body
    case = db.session.get(Case, submitted(world))
    assert case.urgent is False
    assert case.due_at - case.submitted_at == dt.timedelta(days=7)


def test_changing_urgency_moves_the_open_due_dates_but_not_a_completed_one(world):
    ids = world["ids"]
    case_id = submitted(world, timepoint="pre_surgery")
    case = db.session.get(Case, case_id)
    submitted_at = case.submitted_at
    surgeon = api(world, "surgeon")
    (done,) = surgeon.get("/assignments").get_json()["assignments"]
    assert surgeon.post(f"/assignments/{done['id']}/review", f.review_body()).status_code == 201

    coordinator = api(world, "coordinator")
    urgent = coordinator.post(f"/cases/{case_id}/urgency", {"urgent": True})
    assert urgent.status_code == 200, urgent.get_json()
    body = urgent.get_json()
    due = submitted_at + dt.timedelta(days=3)
    assert body["urgent"] is True and dt.datetime.fromisoformat(body["due_at"]) == due
    for a in body["assignments"]:
        # The signed review keeps the due date it was signed against.
        expected = submitted_at + dt.timedelta(days=7) if a["status"] == "completed" else due
        assert dt.datetime.fromisoformat(a["due_at"]) == expected, a
    assert len(notes(ids["medonc"], "due_date_changed")) == 1
    assert notes(ids["surgeon"], "due_date_changed") == []

    calm = coordinator.post(f"/cases/{case_id}/urgency", {"urgent": False}).get_json()
    assert dt.datetime.fromisoformat(calm["due_at"]) == submitted_at + dt.timedelta(days=7)
    assert {a["due_at"] for a in calm["assignments"]} == {calm["due_at"]}


def test_urgency_counts_the_time_the_clock_stood_still(world):
    case_id = submitted(world)
    case = db.session.get(Case, case_id)
    case.paused_seconds = 3600
    db.session.commit()
    body = api(world, "coordinator").post(f"/cases/{case_id}/urgency", {"urgent": True}).get_json()
    assert dt.datetime.fromisoformat(body["due_at"]) == case.submitted_at + dt.timedelta(
        days=3, hours=1
    )


def test_only_the_coordinator_changes_urgency_and_only_of_a_submitted_case(world):
    referrer = api(world, "referrer")
    draft = referrer.post("/cases", f.case_body()).get_json()["id"]
    coordinator = api(world, "coordinator")
    assert coordinator.post(f"/cases/{draft}/urgency", {"urgent": True}).status_code == 409
    case_id = submitted(world)
    assert referrer.post(f"/cases/{case_id}/urgency", {"urgent": True}).status_code == 404
    refused = coordinator.post(f"/cases/{case_id}/urgency", {"urgent": "soon"})
    assert refused.status_code == 422
    assert refused.get_json()["details"] == [
        {"field": "urgent", "message": "must be true or false"}
    ]
    missing = coordinator.post(f"/cases/{case_id}/urgency", {})
    assert missing.get_json()["details"] == [{"field": "urgent", "message": "is required"}]


# --- Auto-reassign ----------------------------------------------------------------------


def test_the_coordinator_turns_auto_reassign_on_and_off(world):
    case_id = submitted(world)
    coordinator = api(world, "coordinator")
    assert as_coordinator(world, case_id)["routing"]["auto_reassign"] is False
    on = coordinator.post(f"/cases/{case_id}/auto-reassign", {"on": True})
    assert on.status_code == 200 and on.get_json()["routing"]["auto_reassign"] is True
    db.session.expire_all()
    assert db.session.get(Case, case_id).auto_reassign is True
    off = coordinator.post(f"/cases/{case_id}/auto-reassign", {"on": False})
    assert off.get_json()["routing"]["auto_reassign"] is False
    assert (
        api(world, "referrer").post(f"/cases/{case_id}/auto-reassign", {"on": True}).status_code
        == 404
    )
    assert api(world, "referrer").get(f"/cases/{case_id}").get_json()["routing"] is None


# --- Times away -----------------------------------------------------------------------


def test_a_reviewer_lists_adds_and_removes_only_their_own_times_away(world):
    pathologist = api(world, "pathologist")
    start = dt.datetime(2099, 7, 1, 8, 0, tzinfo=dt.UTC)
    added = pathologist.post(
        "/availability",
        {"starts_at": "2099-07-01T08:00", "ends_at": "2099-07-15T08:00+00:00", "note": " Leave "},
    )
    assert added.status_code == 201, added.get_json()
    window = added.get_json()
    assert dt.datetime.fromisoformat(window["starts_at"]) == start
    assert window["note"] == "Leave"
    # Times in another zone are stored in UTC.
    zoned = pathologist.post(
        "/availability",
        {"starts_at": "2099-08-01T10:00+02:00", "ends_at": "2099-08-02T10:00+02:00"},
    ).get_json()
    assert zoned["starts_at"] == "2099-08-01T08:00:00+00:00"
    listed = pathologist.get("/availability").get_json()["availability"]
    assert [w["id"] for w in listed] == [window["id"], zoned["id"]]
    assert api(world, "second_pathologist").get("/availability").get_json()["availability"] == []

    client = world["client"]
    other = api(world, "second_pathologist").headers
    assert client.delete(f"/api/v1/availability/{window['id']}", headers=other).status_code == 404
    mine = pathologist.headers
    assert client.delete(f"/api/v1/availability/{window['id']}", headers=mine).status_code == 204
    assert client.delete(f"/api/v1/availability/{window['id']}", headers=mine).status_code == 404
    assert [w["id"] for w in pathologist.get("/availability").get_json()["availability"]] == [
        zoned["id"]
    ]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ({}, {"starts_at": "is required", "ends_at": "is required"}),
        (
            {"starts_at": "next tuesday", "ends_at": "2099-07-02T08:00"},
            {
                "starts_at": "must be a date and time written as YYYY-MM-DDTHH:MM, "
                "e.g. 2026-05-04T09:00 (UTC)"
            },
        ),
        (
            {"starts_at": "2099-07-02T08:00", "ends_at": "2099-07-01T08:00"},
            {"ends_at": "must be after the start (starts_at)"},
        ),
        (
            {"starts_at": "2099-07-01T08:00", "ends_at": "2099-07-01T08:00"},
            {"ends_at": "must be after the start (starts_at)"},
        ),
        (
            {"starts_at": "2098-07-01T08:00", "ends_at": "2099-07-03T08:00"},
            {"ends_at": "must be within a year of the start (starts_at)"},
        ),
        (
            {"starts_at": "2020-07-01T08:00", "ends_at": "2020-07-03T08:00"},
            {"ends_at": "is in the past: a time away must end in the future"},
        ),
        (
            {"starts_at": "2099-07-01T08:00", "ends_at": "2099-07-03T08:00", "note": "x" * 201},
            {"note": "must be at most 200 characters"},
        ),
        (
            {"starts_at": "2099-07-01T08:00", "ends_at": "2099-07-03T08:00", "why": "leave"},
            {"why": "is not a field the board knows; check the spelling"},
        ),
    ],
)
def test_a_time_away_is_refused_with_the_field_named(world, body, errors):
    refused = api(world, "pathologist").post("/availability", body)
    assert refused.status_code == 422, refused.get_json()
    assert {d["field"]: d["message"] for d in refused.get_json()["details"]} == errors
    assert db.session.scalar(select(AvailabilityWindow)) is None


def test_only_reviewers_have_times_away(world):
    body = {"starts_at": "2099-07-01T08:00", "ends_at": "2099-07-03T08:00"}
    assert api(world, "referrer").post("/availability", body).status_code == 404
    assert api(world, "coordinator").get("/availability").status_code == 404
