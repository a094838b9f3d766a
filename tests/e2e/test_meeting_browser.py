"""A tumor-board meeting run end to end through the coordinator's pages, in a real
browser (Debian's Chromium via Playwright) against gunicorn and a real Celery worker:
schedule the meeting, put three cases on the agenda, drag one to the top (the order is
saved), record who was there, sign the consensus for each case and release the second
opinions; the referrer then reads one. The cases are seeded over the JSON API as in
test_http_flow.py. Screenshots land in tests/e2e/artifacts/."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, expect

from board.auth.roles import Role
from board.board_meetings import meetings as board_meetings
from board.board_meetings.models import Meeting, MeetingAttendance
from board.cases.models import Case
from board.extensions import db
from tests.e2e.test_browser_flow import Person, browser
from tests.support import factories as f
from tests.support.api import HttpApi
from tests.support.processes import wait_until

if TYPE_CHECKING:
    from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

__all__ = ["browser"]  # the shared module-scoped browser fixture, used here too

STAGE_DIFFERS = {
    "verdict": "differ",
    "severity": "major",
    "alternative": {"t": "cT3", "n": "cN1", "m": "cM0"},
    "rationale": "The MRI shows a 5.5 cm mass and a suspicious node.",
}


def _read(app: Flask, fn: Any) -> Any:
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def _seed_case(stack: Stack, referrer: f.Person, name: str, mrn: str) -> int:
    api = HttpApi(stack.base_url, referrer.email)
    body = f.case_body(
        patient={"name": name, "birth_date": "1968-03-14", "mrn": mrn, "sex": "female"},
        requested_specialties=["medical_oncology"],
    )
    created = api.post("/cases", body)
    assert created.status_code == 201, created.text
    case_id: int = created.json()["id"]
    assert api.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    assert api.post(f"/cases/{case_id}/submit").status_code == 202
    wait_until(
        lambda: api.get(f"/cases/{case_id}").json()["status"] == "in_review",
        timeout=60,
        what=f"the worker to route case #{case_id}",
    )
    return case_id


def _review_all(stack: Stack, reviewer: f.Person, bodies: dict[int, dict[str, Any]]) -> None:
    api = HttpApi(stack.base_url, reviewer.email)
    for assignment in api.get("/assignments").json()["assignments"]:
        assert api.post(f"/assignments/{assignment['id']}/accept").status_code == 200
        body = bodies.get(assignment["case_id"], f.review_body())
        signed = api.post(f"/assignments/{assignment['id']}/review", body)
        assert signed.status_code == 201, signed.text


def _dom_order(page: Any) -> list[int]:
    return [
        int(v)
        for v in page.eval_on_selector_all(
            "ol.agenda > li[data-case-id]", "items => items.map(i => i.dataset.caseId)"
        )
    ]


def test_a_meeting_runs_end_to_end_through_the_coordinators_pages_in_a_browser(
    app: Flask, stack: Stack, browser: Browser, artifacts: Path
):
    with app.app_context():
        home = f.institution("Home Oncology")
        away = f.institution("University Breast Center")
        referrer = f.person(Role.REFERRER, home, name="Dr. Rhea Referrer")
        pathologist = f.person(Role.PATHOLOGIST, away, name="Dr. Paula Pathologist")
        medonc = f.person(Role.MEDICAL_ONCOLOGIST, away, name="Dr. Max Oncologist")
        coordinator_account = f.person(Role.COORDINATOR, away, name="Dr. Cora Coordinator")
        db.session.remove()

    # Three cases, each read by the pathologist and the medical oncologist; the
    # pathologist upstages the second one (a reviewer disagreement on the stage).
    first, second, third = (
        _seed_case(stack, referrer, name, mrn)
        for name, mrn in (
            ("Ada Patient", "MRN-0001"),
            ("Bea Patient", "MRN-0002"),
            ("Cleo Patient", "MRN-0003"),
        )
    )
    _review_all(stack, pathologist, {second: f.review_body(stage=STAGE_DIFFERS)})
    _review_all(stack, medonc, {})
    for case_id in (first, second, third):
        assert _read(app, lambda c=case_id: db.session.get(Case, c).status) == "ready_for_board"

    # The coordinator schedules the meeting from the pages.
    coordinator = Person(browser, stack, coordinator_account.email)
    page = coordinator.page
    page.click("header nav a:has-text('Meetings')")
    expect(page.locator("h1")).to_have_text("Tumor-board meetings")
    page.fill("[name=date]", "2027-03-01")
    page.click("button:has-text('Schedule')")  # no time: refused beside the field
    expect(page.locator("[id='err-time']")).to_have_text("is required")
    expect(page.locator("[name=date]")).to_have_value("2027-03-01")
    page.fill("[name=time]", "16:00")
    page.click("button:has-text('Schedule')")  # neither a place nor a video link
    expect(page.locator("[id='err-place']")).to_contain_text("a place (e.g. Room 4)")
    expect(page.locator("[name=time]")).to_have_value("16:00")
    page.fill("[name=place]", "Conference room 4, Breast Center")
    page.fill("[name=video_link]", "https://video.example/board")
    page.check("input[name=expected_specialties][value=pathology]")
    page.check("input[name=expected_specialties][value=medical_oncology]")
    coordinator.shoot(artifacts, "meeting-schedule-form")
    page.click("button:has-text('Schedule')")
    expect(page.locator(".flash")).to_contain_text(
        "The meeting of 2027-03-01 16:00 UTC is scheduled"
    )
    expect(page).to_have_url(re.compile(r"/meetings/\d+$"))
    meeting_id = int(page.url.rsplit("/", 1)[1])

    # Three cases on the agenda, in the order they are added.
    for case_id in (first, second, third):
        page.select_option("[name=case_id]", str(case_id))
        page.click("button:has-text('Add to the agenda')")
        expect(page.locator(".flash")).to_contain_text(f"Case #{case_id} is on the agenda")
    expect(page.locator("ol.agenda > li")).to_have_count(3)
    assert _dom_order(page) == [first, second, third]
    # The second case's reviewers disagree on the stage: highlighted side by side.
    item = page.locator(f"#case-{second}")
    expect(item.locator("td.disagree")).to_have_count(2)
    expect(item.locator("tr.disagreement th[scope=row]")).to_contain_text("Stage")
    expect(page.locator(f"#case-{first} td.disagree")).to_have_count(0)
    expect(item).to_contain_text("The MRI shows a 5.5 cm mass")
    expect(item.locator("table.stage-compare")).to_contain_text("IB")

    # Drag the third case onto the top half of the first: it becomes the first item.
    page.drag_and_drop(
        f"#order-{third} .handle", f"#order-{first}", target_position={"x": 200, "y": 4}
    )
    expect(page.locator("#agenda-status")).to_have_text("The new order is saved.")
    assert _dom_order(page) == [third, first, second]
    expect(page.locator(f"#order-{third} .position")).to_have_text("1")
    expect(page.locator(f"#case-{third} .position")).to_have_text("1")
    # The cases in full follow the running order.
    sections = page.eval_on_selector_all(
        "[data-agenda-details] > section", "items => items.map(i => Number(i.dataset.caseId))"
    )
    assert sections == [third, first, second]
    saved = _read(app, lambda: [i.case_id for i in board_meetings.agenda(meeting_id)])
    assert saved == [third, first, second]
    page.reload()
    assert _dom_order(page) == [third, first, second]
    # Without script the arrows do the same: the second case one place up.
    page.click(f"#order-{second} button[value=up]")
    expect(page).to_have_url(re.compile(rf"/meetings/{meeting_id}#order-{second}$"))
    assert _dom_order(page) == [third, second, first]
    coordinator.shoot(artifacts, "meeting-agenda")

    # Who was there.
    for person in (pathologist, medonc, coordinator_account):
        page.check(f"#attendance input[name=user_ids][value='{person.id}']")
    page.click("button:has-text('Save the attendance')")
    expect(page.locator(".flash")).to_contain_text("Attendance saved: 3 people were there.")
    present = _read(
        app,
        lambda: sorted(
            db.session.scalars(
                db.select(MeetingAttendance.user_id).where(
                    MeetingAttendance.meeting_id == meeting_id
                )
            )
        ),
    )
    assert present == sorted([pathologist.id, medonc.id, coordinator_account.id])

    # The consensus for each case, from its agenda item and back, then its release.
    summaries = {
        third: "Plan confirmed: lumpectomy, radiation and letrozole.",
        second: "The board upstages to cT3 cN1: neoadjuvant therapy first.",
        first: "Plan confirmed; add ovarian function suppression.",
    }
    for case_id in _dom_order(page):
        page.click(f"#case-{case_id} a:has-text('Record the consensus')")
        expect(page).to_have_url(re.compile(rf"/cases/{case_id}#consensus$"))
        page.fill("#consensus [name=summary]", summaries[case_id])
        if case_id == second:
            page.click("text=Final diagnosis, stage and plan")
            page.fill("#consensus [name='stage.t']", "cT3")
            page.fill("#consensus [name='stage.n']", "cN1")
            page.select_option("#consensus [name='plan.neoadjuvant']", "true")
        if case_id == first:
            page.click("text=Final diagnosis, stage and plan")
            page.fill("#consensus [name='plan.medications.0.name']", "goserelin")
            page.fill("#consensus [name='plan.medications.0.dose']", "3.6")
            page.select_option("#consensus [name='plan.medications.0.unit']", "mg")
            page.select_option("#consensus [name='plan.medications.0.route']", "subcutaneous")
            page.fill("#consensus [name='plan.medications.0.frequency']", "every 28 days")
        page.click("button:has-text('Sign the consensus')")
        expect(page.locator(".flash")).to_contain_text("Consensus version 1 is signed")
        if case_id == first:
            coordinator.shoot(artifacts, "meeting-case-consensus")
        page.click(f"#on-agenda a[href='/meetings/{meeting_id}#case-{case_id}']")
        expect(page).to_have_url(re.compile(rf"/meetings/{meeting_id}#case-{case_id}$"))
        item = page.locator(f"#case-{case_id}")
        expect(item).to_contain_text("Consensus version 1 signed by Dr. Cora Coordinator")
        item.locator("button:has-text('Release the second opinion')").click()
        expect(page.locator(".flash")).to_contain_text(
            f"The second opinion is released (case #{case_id})"
        )
        expect(item.locator(".consensus-actions .badge.reported")).to_contain_text("released 20")
    coordinator.shoot(artifacts, "meeting-released")
    coordinator.close()
    for case_id in (first, second, third):
        assert _read(app, lambda c=case_id: db.session.get(Case, c).status) == "reported"
    assert _read(app, lambda: db.session.get(Meeting, meeting_id).status) == "scheduled"

    # The referrer reads the released second opinion on the upstaged case.
    reader = Person(browser, stack, referrer.email)
    page = reader.page
    page.goto(f"/cases/{second}")
    page.click("text=Read the second opinion")
    document = page.locator("article.document")
    expect(document).to_contain_text(summaries[second])
    expect(document).to_contain_text("Dr. Paula Pathologist")
    expect(document).to_contain_text("The MRI shows a 5.5 cm mass")
    expect(page.locator("#follow-ups")).to_contain_text("Ask the board a follow-up question")
    expect(page.locator("#outcome")).to_contain_text("Was the recommendation carried out?")
    reader.shoot(artifacts, "meeting-referrer-second-opinion")
    reader.close()
