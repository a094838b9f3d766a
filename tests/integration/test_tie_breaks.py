"""Second readers and tie-breaks: the coordinator adds a second reader of a
specialty; where the two disagree on a dimension the coordinator sees it and may ask
a third reviewer to break the tie, only on disagreement and at most once per dimension."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from board.auth.models import User
from board.auth.roles import Role
from board.extensions import db
from board.notifications.models import Notification
from board.outbox.models import OutboxMessage
from board.reviews import tie_breaks
from board.reviews.models import Assignment
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api

LOBULAR = {
    "verdict": "differ",
    "severity": "major",
    "alternative": "Invasive lobular carcinoma: E-cadherin negative on my read.",
    "rationale": "Single-file growth pattern; the histologic type changes.",
}
NO_RADIATION = {
    "verdict": "differ",
    "severity": "minor",
    "alternative": "Omit radiation after lumpectomy (over 70, endocrine therapy planned).",
    "rationale": "CALGB 9343 supports omitting it.",
}


@pytest.fixture
def world(client, ctx):
    home = f.institution("Home")
    people = {
        "referrer": f.user(Role.REFERRER, home),
        # Routing picks the first pathologist (equal load, lowest id).
        "pathologist": f.user(Role.PATHOLOGIST, f.institution("Away")),
        "second_pathologist": f.user(Role.PATHOLOGIST, f.institution("Far")),
        "third_pathologist": f.user(Role.PATHOLOGIST, f.institution("Third")),
        "fourth_pathologist": f.user(Role.PATHOLOGIST, f.institution("Fourth")),
        "home_pathologist": f.user(Role.PATHOLOGIST, home),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, f.institution("Oncology")),
        "coordinator": f.user(Role.COORDINATOR, f.institution("Board")),
    }
    return {
        "people": people,
        "ids": {k: p.id for k, p in people.items()},
        "api": {k: Api(client, p.email) for k, p in people.items()},
    }


def _submitted(world) -> int:
    referrer = world["api"]["referrer"]
    case_id = referrer.post("/cases", f.case_body()).get_json()["id"]
    referrer.upload(case_id, "pathology_report", f.pdf())
    assert referrer.post(f"/cases/{case_id}/submit").status_code == 202
    return case_id


def _routed_with_second_reader(world) -> int:
    case_id = _submitted(world)
    route_case(case_id)
    added = world["api"]["coordinator"].post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["ids"]["second_pathologist"]}
    )
    assert added.status_code == 201, added.get_json()
    return case_id


def _assignment(world, who: str, case_id: int) -> dict:
    listed = world["api"][who].get("/assignments").get_json()["assignments"]
    return next(a for a in listed if a["case_id"] == case_id and a["status"] != "declined")


def _review(world, who: str, case_id: int, **verdicts) -> int:
    assignment = _assignment(world, who, case_id)
    signed = world["api"][who].post(
        f"/assignments/{assignment['id']}/review", f.review_body(**verdicts)
    )
    assert signed.status_code == 201, signed.get_json()
    return int(signed.get_json()["id"])


def _case(world, who: str, case_id: int) -> dict:
    response = world["api"][who].get(f"/cases/{case_id}")
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _tie_break(world, case_id: int, **body):
    return world["api"]["coordinator"].post(
        f"/cases/{case_id}/tie-breaks", {"specialty": "pathology", **body}
    )


def _disagreeing_case(world) -> tuple[int, int, int]:
    """Two pathologists: the first concurs throughout, the second differs on the
    diagnosis and the plan. Returns the case and the two review ids."""
    case_id = _routed_with_second_reader(world)
    first = _review(world, "pathologist", case_id)
    second = _review(world, "second_pathologist", case_id, diagnosis=LOBULAR, plan=NO_RADIATION)
    return case_id, first, second


def test_the_coordinator_adds_a_second_pathologist_as_an_additional_reader(world):
    case_id = _submitted(world)
    route_case(case_id)
    added = world["api"]["coordinator"].post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["ids"]["second_pathologist"]}
    )
    assert added.status_code == 201, added.get_json()
    second = added.get_json()
    assert (second["specialty"], second["purpose"], second["tie_break_dimension"]) == (
        "pathology",
        "additional",
        None,
    )
    assert "second breast pathology reader beside" in second["reason"]
    assert world["people"]["pathologist"].name in second["reason"]

    case = _case(world, "coordinator", case_id)
    assert case["status"] == "in_review"
    purposes = {a["reviewer"]["id"]: a["purpose"] for a in case["assignments"]}
    assert purposes == {
        world["ids"]["pathologist"]: "primary",
        world["ids"]["second_pathologist"]: "additional",
    }
    # The second reader sees the case and only their own assignment on it.
    seen = _case(world, "second_pathologist", case_id)
    assert [a["id"] for a in seen["assignments"]] == [second["id"]]
    assert seen["disagreements"] == []


def test_a_second_reader_is_still_refused_when_already_on_the_case_or_in_conflict(world):
    case_id = _routed_with_second_reader(world)
    coordinator = world["api"]["coordinator"]
    again = coordinator.post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["ids"]["second_pathologist"]}
    )
    assert again.status_code == 409
    home = coordinator.post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["ids"]["home_pathologist"]}
    )
    assert home.status_code == 422
    assert "conflict of interest" in home.get_json()["details"][0]["message"]


def test_a_tie_break_is_refused_when_the_readers_agree(world):
    case_id = _routed_with_second_reader(world)
    _review(world, "pathologist", case_id)
    _review(world, "second_pathologist", case_id)
    case = _case(world, "coordinator", case_id)
    assert case["status"] == "ready_for_board"
    assert case["disagreements"] == []
    refused = _tie_break(world, case_id, dimension="diagnosis")
    assert refused.status_code == 409
    assert "only on disagreement" in refused.get_json()["error"]
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 2
    assert _case(world, "coordinator", case_id)["status"] == "ready_for_board"


def test_a_disagreement_shows_to_the_coordinator_and_gets_one_tie_break_per_dimension(world):
    case_id, first, second = _disagreeing_case(world)
    case = _case(world, "coordinator", case_id)
    assert case["status"] == "ready_for_board"
    assert case["disagreements"] == [
        {"specialty": "pathology", "dimension": "diagnosis", "review_ids": [first, second]},
        {"specialty": "pathology", "dimension": "plan", "review_ids": [first, second]},
    ]
    # Nobody else sees where reviewers disagree before the board.
    for who in ("referrer", "pathologist", "second_pathologist"):
        assert _case(world, who, case_id)["disagreements"] == []

    created = _tie_break(world, case_id, dimension="diagnosis")
    assert created.status_code == 201, created.get_json()
    tie = created.get_json()
    assert tie["purpose"] == "tie_break" and tie["tie_break_dimension"] == "diagnosis"
    assert tie["specialty"] == "pathology" and tie["status"] == "offered"
    # Auto-picked: of the pathologists new to the case and free of conflict of interest
    # (the third and the fourth, equal load), the lower id.
    assert tie["reviewer"]["id"] == world["ids"]["third_pathologist"]
    names = world["people"]["pathologist"].name, world["people"]["second_pathologist"].name
    assert tie["reason"].startswith(
        f"tie-break on the diagnosis: {names[0]} concurs, {names[1]} differs (major); "
        "least loaded of 2 eligible"
    )
    stored = db.session.get(Assignment, tie["id"])
    assert stored.reason == tie["reason"]
    assert stored.assigned_by_id == world["ids"]["coordinator"]
    assert _case(world, "coordinator", case_id)["status"] == "in_review"
    (note,) = db.session.scalars(
        select(Notification).where(Notification.user_id == world["ids"]["third_pathologist"])
    )
    assert "break a tie on the diagnosis" in note.message

    again = _tie_break(world, case_id, dimension="diagnosis")
    assert again.status_code == 409
    assert "at most one per dimension" in again.get_json()["error"]
    named_again = _tie_break(
        world, case_id, dimension="diagnosis", reviewer_id=world["ids"]["fourth_pathologist"]
    )
    assert named_again.status_code == 409

    # They agree on the stage: no tie to break there.
    assert _tie_break(world, case_id, dimension="stage").status_code == 409
    plan = _tie_break(world, case_id, dimension="plan")
    assert plan.status_code == 201, plan.get_json()
    assert plan.get_json()["reviewer"]["id"] == world["ids"]["fourth_pathologist"]
    assert plan.get_json()["reason"].startswith(
        f"tie-break on the plan: {names[0]} concurs, {names[1]} differs (minor)"
    )


def test_only_the_coordinator_may_ask_for_a_tie_break(world):
    case_id, _, _ = _disagreeing_case(world)
    body = {"specialty": "pathology", "dimension": "diagnosis"}
    for who in ("referrer", "pathologist", "second_pathologist", "third_pathologist"):
        assert world["api"][who].post(f"/cases/{case_id}/tie-breaks", body).status_code == 404
    assert world["api"]["coordinator"].post("/cases/9999/tie-breaks", body).status_code == 404
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 2


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"specialty": "cardiology", "dimension": "diagnosis"}, 422, "must be one of"),
        ({"specialty": "pathology", "dimension": "grade"}, 422, "must be one of"),
        ({"specialty": "pathology"}, 422, "is required"),
        ({"specialty": "pathology", "dimension": "diagnosis", "extra": 1}, 422, "spelling"),
        # The radiologists have no disagreement on this case (no radiologist at all).
        ({"specialty": "breast_radiology", "dimension": "diagnosis"}, 409, "disagreement"),
        # A named reviewer must be of the disagreeing specialty...
        ({"dimension": "diagnosis", "reviewer": "medonc"}, 422, "not an active breast pathology"),
        # ...free of conflict of interest...
        ({"dimension": "diagnosis", "reviewer": "home_pathologist"}, 422, "conflict of interest"),
        # ...and new to the case.
        ({"dimension": "diagnosis", "reviewer": "second_pathologist"}, 409, "already been"),
    ],
)
def test_a_tie_break_request_that_cannot_be_met_says_why(world, body, status, message):
    case_id, _, _ = _disagreeing_case(world)
    if "reviewer" in body:
        body = {"specialty": "pathology", **body, "reviewer_id": world["ids"][body["reviewer"]]}
        del body["reviewer"]
    response = world["api"]["coordinator"].post(f"/cases/{case_id}/tie-breaks", body)
    assert response.status_code == status, response.get_json()
    assert message in str(response.get_json())
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 2


def test_a_named_tie_break_reviewer_is_taken_as_named(world):
    case_id, _, _ = _disagreeing_case(world)
    named = _tie_break(
        world, case_id, dimension="diagnosis", reviewer_id=world["ids"]["fourth_pathologist"]
    )
    assert named.status_code == 201, named.get_json()
    assert named.get_json()["reviewer"]["id"] == world["ids"]["fourth_pathologist"]
    assert named.get_json()["reason"].endswith(
        f"named by the coordinator, {world['people']['coordinator'].name}"
    )


def test_when_nobody_can_break_the_tie_the_refusal_says_why(world):
    case_id, _, _ = _disagreeing_case(world)
    for who in ("third_pathologist", "fourth_pathologist"):
        account = db.session.get(User, world["ids"][who])
        account.active = False
    db.session.commit()
    refused = _tie_break(world, case_id, dimension="diagnosis")
    assert refused.status_code == 409
    error = refused.get_json()["error"]
    assert "Nobody can break the tie" in error
    assert "already reads this case" in error and "inactive account" in error


def test_the_tie_break_reviewer_reviews_and_the_case_is_ready_for_the_board_again(world):
    case_id, first, second = _disagreeing_case(world)
    tie = _tie_break(world, case_id, dimension="diagnosis").get_json()
    seen = _case(world, "third_pathologist", case_id)
    # The tie-break reviewer judges independently: their own assignment, no other review.
    assert [a["id"] for a in seen["assignments"]] == [tie["id"]]
    assert seen["reviews"] == [] and seen["disagreements"] == []
    assert world["api"]["coordinator"].post(
        f"/cases/{case_id}/consensus", {"summary": "Too early.", "recommendations": "None."}
    ).status_code in (409, 422)

    third = _review(world, "third_pathologist", case_id, diagnosis=LOBULAR)
    case = _case(world, "coordinator", case_id)
    assert case["status"] == "ready_for_board"
    assert {r["id"] for r in case["reviews"]} == {first, second, third}
    # The tie-break answers the question; it does not become part of it.
    assert [d["review_ids"] for d in case["disagreements"]] == [[first, second]] * 2
    ready = db.session.scalars(
        select(Notification).where(
            Notification.user_id == world["ids"]["coordinator"],
            Notification.kind == "ready_for_board",
        )
    ).all()
    assert len(ready) == 2  # once after the two readers, once after the tie-break


def test_a_declined_tie_break_is_not_routed_again_and_may_be_asked_again(world):
    case_id, _, _ = _disagreeing_case(world)
    tie = _tie_break(world, case_id, dimension="diagnosis").get_json()
    declined = world["api"]["third_pathologist"].post(
        f"/assignments/{tie['id']}/decline", {"reason": "Away at a congress this week."}
    )
    assert declined.status_code == 200
    (note,) = db.session.scalars(
        select(Notification).where(
            Notification.user_id == world["ids"]["coordinator"], Notification.kind == "declined"
        )
    )
    assert "tie-break on the diagnosis is not routed again automatically" in note.message
    message = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()
    assert message.task == "routing.route_case"
    route_case(case_id, message.id)
    case = _case(world, "coordinator", case_id)
    assert len(case["assignments"]) == 3
    assert case["status"] == "ready_for_board"

    again = _tie_break(world, case_id, dimension="diagnosis")
    assert again.status_code == 201, again.get_json()
    # The reviewer who declined is never asked again.
    assert again.get_json()["reviewer"]["id"] == world["ids"]["fourth_pathologist"]


def test_routing_a_declined_primary_never_picks_the_second_reader(world):
    coordinator = world["api"]["coordinator"]
    case_id = _submitted(world)
    other_case = _submitted(world)
    route_case(case_id)  # the first pathologist: equal load, lowest id
    # The third pathologist gets an open assignment elsewhere, so by load alone the
    # second reader (whose review is in) would be the next choice.
    assert (
        coordinator.post(
            f"/cases/{other_case}/assignments", {"reviewer_id": world["ids"]["third_pathologist"]}
        ).status_code
        == 201
    )
    assert (
        coordinator.post(
            f"/cases/{other_case}/assignments", {"reviewer_id": world["ids"]["fourth_pathologist"]}
        ).status_code
        == 201
    )
    coordinator.post(
        f"/cases/{case_id}/assignments", {"reviewer_id": world["ids"]["second_pathologist"]}
    )
    _review(world, "second_pathologist", case_id)
    primary = _assignment(world, "pathologist", case_id)
    world["api"]["pathologist"].post(
        f"/assignments/{primary['id']}/decline", {"reason": "I know the patient."}
    )
    route_case(case_id)
    case = _case(world, "coordinator", case_id)
    active = {
        a["reviewer"]["id"]: a["purpose"] for a in case["assignments"] if a["status"] != "declined"
    }
    assert active[world["ids"]["second_pathologist"]] == "additional"
    (new_primary,) = [r for r, purpose in active.items() if purpose == "primary"]
    assert new_primary in (world["ids"]["third_pathologist"], world["ids"]["fourth_pathologist"])
    assert case["status"] == "in_review"


def test_routing_leaves_a_gap_rather_than_route_the_second_reader_again(world):
    case_id = _routed_with_second_reader(world)
    # Nobody but the two readers already on the case is left on the roster.
    for who in ("third_pathologist", "fourth_pathologist"):
        account = db.session.get(User, world["ids"][who])
        account.active = False
    db.session.commit()
    primary = _assignment(world, "pathologist", case_id)
    world["api"]["pathologist"].post(
        f"/assignments/{primary['id']}/decline", {"reason": "I know the patient."}
    )
    route_case(case_id)
    case = _case(world, "coordinator", case_id)
    assert case["status"] == "unroutable"
    assert "already reads this case" in case["routing_note"]


def test_the_unique_index_refuses_a_second_tie_break_that_slips_past_the_check(world, monkeypatch):
    case_id, _, _ = _disagreeing_case(world)
    assert _tie_break(world, case_id, dimension="diagnosis").status_code == 201
    before = db.session.scalar(select(func.count()).select_from(Notification))
    # As if a concurrent request had not committed yet when this one checked.
    monkeypatch.setattr(tie_breaks, "_active_tie_break", lambda case_id, dimension: None)
    raced = _tie_break(world, case_id, dimension="diagnosis")
    assert raced.status_code == 409
    assert "at most one per dimension" in raced.get_json()["error"]
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Assignment)) == 3
    assert db.session.scalar(select(func.count()).select_from(Notification)) == before


def test_reassigning_a_tie_break_keeps_it_a_tie_break_on_the_same_dimension(world):
    case_id, _, _ = _disagreeing_case(world)
    created = _tie_break(world, case_id, dimension="diagnosis")
    assert created.status_code == 201, created.get_json()
    moved_to = next(
        name
        for name in ("third_pathologist", "fourth_pathologist")
        if world["ids"][name] != created.get_json()["reviewer"]["id"]
    )
    moved = world["api"]["coordinator"].post(
        f"/assignments/{created.get_json()['id']}/reassign",
        {"reviewer_id": world["ids"][moved_to]},
    )
    assert moved.status_code == 200, moved.get_json()
    replacement = _assignment(world, moved_to, case_id)
    assert (replacement["purpose"], replacement["tie_break_dimension"]) == (
        "tie_break",
        "diagnosis",
    )
    assert "replaces" in replacement["reason"]
