"""The routing rules in the pages: a reviewer's availability, the coordinator's view of
what a case needs (and the decisions waiting on them), urgency and auto-reassign, and
the referrer's "urgent" box."""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import select

from board.auth.models import AvailabilityWindow
from board.cases import services as cases
from board.cases.models import Case
from board.extensions import db
from board.routing.services import route_case
from tests.support import factories as f
from tests.web.test_pages import CASE_FORM, World, _draft


def _pre_surgery(world: World, *, covered: bool) -> int:
    """A submitted pre-surgery case (pathology and imaging attached), routed."""
    insurance = {
        "insurer": "Acme Health",
        "second_opinion_covered": True,
        "pathology_review_covered": covered,
    }
    case_id = _draft(world, timepoint="pre_surgery", insurance=insurance)

    def attach() -> None:
        referrer = world.user("referrer")
        for kind in ("pathology_report", "imaging_report"):
            cases.add_record(referrer, case_id, kind=kind, filename=f"{kind}.pdf", data=f.pdf())
        cases.submit(referrer, case_id)

    world.run(attach)
    world.run(route_case, case_id)
    return case_id


def _case(world: World, case_id: int) -> Case:
    def load() -> Case:
        case = db.session.get(Case, case_id)
        assert case is not None
        db.session.expunge(case)
        return case

    return world.run(load)  # type: ignore[no-any-return]


def test_a_reviewer_adds_and_removes_a_time_away_from_their_availability_page(world):
    pathologist = world.client("pathologist")
    home = pathologist.get("/assignments")
    assert 'href="/availability"' in home.text and "My availability" in home.text
    page = pathologist.get("/availability")
    assert page.status_code == 200
    assert page.text.count('type="datetime-local"') == 2
    assert "You have no time away planned" in page.text

    added = pathologist.post(
        "/availability",
        data={"starts_at": "2099-07-01T08:00", "ends_at": "2099-07-15T08:00", "note": "Leave"},
    )
    assert added.status_code == 303
    page = pathologist.get("/availability")
    assert "2099-07-01 08:00 UTC" in page.text and "2099-07-15 08:00 UTC" in page.text
    assert "no case is routed to you meanwhile" in page.text

    window_id = world.run(lambda: db.session.scalar(select(AvailabilityWindow.id)))
    # Nobody else can remove it.
    other = world.client("pathologist2").post(f"/availability/{window_id}/delete")
    assert other.status_code == 404
    removed = pathologist.post(f"/availability/{window_id}/delete")
    assert removed.status_code == 303
    assert "You have no time away planned" in pathologist.get("/availability").text


def test_a_refused_time_away_keeps_what_was_typed_and_says_what_is_wrong(world):
    pathologist = world.client("pathologist")
    refused = pathologist.post(
        "/availability", data={"starts_at": "2099-07-15T08:00", "ends_at": "2099-07-01T08:00"}
    )
    assert refused.status_code == 422
    assert re.search(r'id="err-ends_at">must be after the start \(starts_at\)', refused.text)
    assert 'value="2099-07-15T08:00"' in refused.text
    missing = pathologist.post("/availability", data={"starts_at": "", "ends_at": ""})
    assert re.search(r'id="err-starts_at">is required', missing.text)
    assert world.run(lambda: db.session.scalar(select(AvailabilityWindow))) is None


def test_only_reviewers_have_an_availability_page(world):
    for who in ("referrer", "coordinator", "admin"):
        client = world.client(who)
        assert client.get("/availability").status_code == 404
        assert 'href="/availability"' not in client.get("/notifications").text


def test_the_coordinator_sees_why_each_specialty_is_needed_and_decides_an_uncovered_re_review(
    world,
):
    case_id = _pre_surgery(world, covered=False)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/cases/{case_id}")
    assert page.status_code == 200
    routing = page.text[page.text.index('id="routing"') :]
    assert "required at the pre-surgery timepoint" in routing
    assert (
        "pathology re-review is not covered by Acme Health: the coordinator decides"
        in page.text[page.text.index('id="routing-decisions"') :]
    )
    assert "Add breast pathology" in routing

    added = coordinator.post(f"/cases/{case_id}/specialties", data={"add": "pathology"})
    assert added.status_code == 303
    page = coordinator.get(f"/cases/{case_id}")
    assert "You added breast pathology; the case is being routed again." in page.text
    assert 'id="routing-decisions"' not in page.text
    assert "added by the coordinator, although Acme Health does not cover" in page.text

    removed = coordinator.post(f"/cases/{case_id}/specialties", data={"remove": "breast_surgery"})
    assert removed.status_code == 303
    page = coordinator.get(f"/cases/{case_id}")
    assert "removed by the coordinator (was: required at the pre-surgery timepoint)" in page.text
    assert _case(world, case_id).removed_specialties == ["breast_surgery"]


def test_a_refused_specialty_change_is_explained(world):
    case_id = _pre_surgery(world, covered=True)
    coordinator = world.client("coordinator")
    refused = coordinator.post(
        f"/cases/{case_id}/specialties", data={"add": "pathology", "remove": "pathology"}
    )
    assert refused.status_code == 303
    page = coordinator.get(f"/cases/{case_id}")
    assert "The specialties were not changed: remove also lists breast pathology to add" in (
        page.text
    )


def test_the_coordinator_marks_a_case_urgent_and_turns_auto_reassign_on(world):
    case_id = _pre_surgery(world, covered=True)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/cases/{case_id}")
    assert "Mark urgent (3 days)" in page.text and "Turn auto-reassign on" in page.text

    assert coordinator.post(f"/cases/{case_id}/urgency", data={"urgent": "true"}).status_code == 303
    case = _case(world, case_id)
    assert case.urgent is True
    assert case.due_at - case.submitted_at == dt.timedelta(days=3)
    page = coordinator.get(f"/cases/{case_id}")
    assert 'id="urgent-badge"' in page.text
    assert f"due {case.due_at:%Y-%m-%d %H:%M} UTC" in page.text
    assert "Make it not urgent (7 days)" in page.text

    on = coordinator.post(f"/cases/{case_id}/auto-reassign", data={"on": "true"})
    assert on.status_code == 303
    assert _case(world, case_id).auto_reassign is True
    assert "Turn auto-reassign off" in coordinator.get(f"/cases/{case_id}").text

    # Not the referrer's to change.
    referrer = world.client("referrer")
    assert referrer.post(f"/cases/{case_id}/urgency", data={"urgent": "false"}).status_code == 404
    assert 'id="routing"' not in referrer.get(f"/cases/{case_id}").text


def test_the_referrer_can_mark_a_new_case_urgent(world):
    referrer = world.client("referrer")
    form = referrer.get("/cases/new")
    assert re.search(r'<input type="checkbox" id="f-urgent" name="urgent" value="true"', form.text)
    created = referrer.post("/cases/new", data={**CASE_FORM, "urgent": "true"})
    assert created.status_code == 303, created.text
    case_id = int(created.headers["Location"].rsplit("/", 1)[1])
    assert _case(world, case_id).urgent is True
    edit = referrer.get(f"/cases/{case_id}/edit")
    assert re.search(r'name="urgent" value="true" checked', edit.text)
    assert "the board answers within 3 days (urgent)" in referrer.get(f"/cases/{case_id}").text


# --- The case's reviewers page ---------------------------------------------------------


def test_the_case_page_links_to_the_reviewers_page_instead_of_listing_the_roster(world):
    from tests.web.test_pages import _routed

    case_id = _routed(world)
    page = world.client("coordinator").get(f"/cases/{case_id}").text
    assert f'href="/cases/{case_id}/staffing"' in page
    assert "Reassign…" in page  # the routed pathologist's open assignment
    assert 'id="assign-reviewer"' not in page and "Dr. Pia Second" not in page


def test_the_reviewers_page_offers_every_reviewer_with_load_and_what_stands_in_the_way(world):
    from tests.web.test_pages import _routed

    home_pathologist = world.run(
        lambda: (
            f.user(
                f.Role.PATHOLOGIST,
                db.session.get(f.Institution, world.user("referrer").institution_id),
                name="Dr. Hal Home",
            ).id
        )
    )
    case_id = _routed(world)
    page = world.client("coordinator").get(f"/cases/{case_id}/staffing").text
    assign = page.split('id="assign-reviewer"')[1].split("</select>")[0]
    assert '<optgroup label="Breast pathology">' in assign
    # Routed to Dr. Paula Pathologist: she cannot be given the case a second time.
    assert re.search(
        rf'<option value="{world.ids["pathologist"]}" disabled>Dr. Paula Pathologist · '
        r"University Breast Center · 1 open · already assigned this case once</option>",
        assign,
    )
    assert re.search(
        rf'<option value="{home_pathologist}" disabled>Dr. Hal Home · Home Oncology · 0 open'
        r" · works at the referrer&#39;s institution \(conflict of interest\)</option>",
        assign,
    )
    assert f'<option value="{world.ids["pathologist2"]}">Dr. Pia Second' in assign
    # Her open assignment can go to the other pathologist, never to a blocked one.
    reassign = page.split("Reassign to")[1].split("</select>")[0]
    assert "Dr. Pia Second" in reassign and "Dr. Hal Home" not in reassign


def test_a_hand_assignment_from_the_reviewers_page_returns_there(world):
    from tests.web.test_pages import _routed

    case_id = _routed(world)
    coordinator = world.client("coordinator")
    done = coordinator.post(
        f"/cases/{case_id}/assignments",
        data={"reviewer_id": str(world.ids["pathologist2"]), "back": "staffing"},
    )
    assert done.status_code == 303 and done.location.endswith(f"/cases/{case_id}/staffing")
    page = coordinator.get(done.location).text
    assert "The reviewer is assigned and told by email." in page
    refused = coordinator.post(
        f"/cases/{case_id}/assignments",
        data={"reviewer_id": str(world.ids["pathologist2"]), "back": "staffing"},
    )
    assert refused.location.endswith(f"/cases/{case_id}/staffing")
    # Without `back`, the forms of the case page return to the case page.
    plain = coordinator.post(f"/cases/{case_id}/assignments", data={"reviewer_id": ""})
    assert plain.location.endswith(f"/cases/{case_id}")
