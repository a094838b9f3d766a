"""The coordinator's meeting pages (schedule, move, cancel, attendance, the agenda with
the reviewers' verdicts side by side) and what follows release on the pages: the
referrer's follow-up questions, the coordinator's answers, the implementation outcome.
Medications in the consensus and in a reviewer's plan alternative. Data is made through
the real services, as in test_pages.py."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import select

from board.audit.models import AuditEvent
from board.board_meetings import follow_ups
from board.board_meetings import meetings as board_meetings
from board.board_meetings import services as meetings
from board.board_meetings.models import Consensus, FollowUpQuestion, Meeting, MeetingAttendance
from board.board_meetings.schemas import ConsensusInput
from board.cases.models import Case
from board.extensions import db
from board.reviews import services as reviews
from board.reviews.models import Assignment, Review
from board.reviews.schemas import ReviewInput
from board.validation import parse
from tests.support import factories as f
from tests.web.test_pages import World, _routed, _status

NEXT_MONDAY = dt.datetime(2027, 3, 1, 16, 0, tzinfo=dt.UTC)

STAGE_DIFFERS = {
    "verdict": "differ",
    "severity": "major",
    "alternative": {"t": "cT3", "n": "cN1", "m": "cM0"},
    "rationale": "The MRI shows a 5.5 cm mass.",
}


def _patient(name: str, mrn: str) -> dict[str, str]:
    return {"name": name, "birth_date": "1968-03-14", "mrn": mrn, "sex": "female"}


def _sign_all(world: World, case_id: int, **by_specialty: dict[str, Any] | None) -> None:
    """Every reviewer routed the case signs: a concur on every dimension unless
    `by_specialty` gives that specialty's verdicts (None: that reviewer has not signed)."""

    def sign() -> None:
        for assignment in db.session.scalars(
            select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
        ):
            if assignment.specialty in by_specialty and by_specialty[assignment.specialty] is None:
                continue  # this reviewer has not signed yet
            body = f.review_body(**by_specialty.get(assignment.specialty, {}))
            reviews.submit_review(assignment.reviewer, assignment.id, parse(ReviewInput, body))

    world.run(sign)


def _ready(
    world: World,
    name: str,
    mrn: str,
    case: dict[str, Any] | None = None,
    **by_specialty: dict[str, Any],
) -> int:
    """A case (the factory's, with `case` over it) seen by a pathologist and a medical
    oncologist, both reviews signed."""
    case_id = _routed(
        world,
        patient=_patient(name, mrn),
        requested_specialties=["medical_oncology"],
        **(case or {}),
    )
    _sign_all(world, case_id, **by_specialty)
    assert _status(world, case_id) == "ready_for_board"
    return case_id


def _meeting(world: World, **kwargs: Any) -> int:
    def create() -> int:
        return board_meetings.create_meeting(
            world.user("coordinator"), starts_at=NEXT_MONDAY, place="Room 4", **kwargs
        )[0].id

    return world.run(create)  # type: ignore[no-any-return]


def _agenda(world: World, meeting_id: int) -> list[int]:
    return world.run(lambda: [i.case_id for i in board_meetings.agenda(meeting_id)])  # type: ignore[no-any-return]


def _on_agenda(world: World, meeting_id: int, *case_ids: int) -> None:
    for case_id in case_ids:
        world.run(
            lambda c=case_id: board_meetings.add_to_agenda(world.user("coordinator"), meeting_id, c)
        )


def _released(world: World) -> int:
    case_id = _ready(world, "Ada Patient", "MRN-0001")

    def sign_and_release() -> None:
        coordinator = world.user("coordinator")
        meetings.record_consensus(
            coordinator, case_id, parse(ConsensusInput, {"summary": "Plan confirmed."})
        )
        meetings.release(coordinator, case_id)

    world.run(sign_and_release)
    return case_id


def _posting_forms_lack_csrf(html: str) -> list[str]:
    """The action of every POST form on a page that carries no CSRF token."""
    forms = re.findall(r"<form\b[^>]*>.*?</form>", html, flags=re.S | re.I)
    return [
        re.search(r'action="([^"]*)"', form).group(1)  # type: ignore[union-attr]
        for form in forms
        if re.search(r'method="post"', form, re.I) and 'name="csrf_token"' not in form
    ]


# --- Scheduling ----------------------------------------------------------------------------


def test_the_coordinator_schedules_a_meeting_from_the_meetings_page_linked_from_the_dashboard(
    world,
):
    coordinator = world.client("coordinator")
    dashboard = coordinator.get("/board").text
    assert 'href="/meetings"' in dashboard and "Next meetings" in dashboard
    page = coordinator.get("/meetings")
    assert page.status_code == 200 and "Schedule a meeting" in page.text
    assert _posting_forms_lack_csrf(page.text) == []

    created = coordinator.post(
        "/meetings",
        data={
            "date": "2027-03-01",
            "time": "16:00",
            "duration_minutes": "90",
            "place": "Conference room 4",
            "video_link": "https://video.example/board",
            "expected_specialties": ["pathology", "medical_oncology"],
            "weeks": "1",
        },
    )
    assert created.status_code == 303
    meeting = world.run(lambda: db.session.scalar(select(Meeting)))
    assert created.headers["Location"].endswith(f"/meetings/{meeting.id}")
    assert meeting.starts_at == NEXT_MONDAY and meeting.duration_minutes == 90
    assert meeting.expected_specialties == ["pathology", "medical_oncology"]
    assert meeting.series_id is None
    listed = coordinator.get("/meetings").text
    assert f'href="/meetings/{meeting.id}"' in listed and "Mon 2027-03-01 16:00 UTC" in listed
    shown = coordinator.get(f"/meetings/{meeting.id}").text
    assert "Conference room 4" in shown and 'href="https://video.example/board"' in shown
    assert "Breast pathology" in shown and "Medical oncology" in shown


def test_a_weekly_series_makes_one_meeting_a_week_for_the_weeks_asked(world):
    response = world.client("coordinator").post(
        "/meetings",
        data={"date": "2027-03-01", "time": "07:30", "place": "Room 4", "weeks": "4"},
    )
    assert response.status_code == 303
    series = world.run(
        lambda: [(m.starts_at, m.series_id) for m in db.session.scalars(select(Meeting))]
    )
    first = dt.datetime(2027, 3, 1, 7, 30, tzinfo=dt.UTC)
    assert sorted(s for s, _ in series) == [first + dt.timedelta(weeks=w) for w in range(4)]
    assert len({sid for _, sid in series}) == 1 and series[0][1] is not None


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"time": "16:00", "place": "Room 4"}, "date", "is required"),
        ({"date": "2027-03-01", "place": "Room 4"}, "time", "is required"),
        ({"date": "01/03/2027", "time": "16:00", "place": "Room 4"}, "date", "YYYY-MM-DD"),
        ({"date": "2027-03-01", "time": "4 pm", "place": "Room 4"}, "time", "HH:MM"),
        ({"date": "2027-03-01", "time": "16:00"}, "place", "a place (e.g. Room 4) or a video"),
        (
            {"date": "2027-03-01", "time": "16:00", "video_link": "zoom 123"},
            "video_link",
            "must be a web address",
        ),
        ({"date": "2027-03-01", "time": "16:00", "place": "R", "weeks": "60"}, "weeks", "at most"),
        (
            {"date": "2027-03-01", "time": "16:00", "place": "R", "duration_minutes": "2"},
            "duration_minutes",
            "at least 5",
        ),
    ],
)
def test_a_meeting_form_with_a_mistake_is_refused_beside_the_field_and_keeps_what_was_typed(
    world, form, field, message
):
    form = {**form, "expected_specialties": ["breast_surgery"]}
    page = world.client("coordinator").post("/meetings", data=form)
    assert page.status_code == 422
    assert "The meeting was not scheduled" in page.text
    assert re.search(rf'id="err-{field}">[^<]*{re.escape(message)}', page.text), page.text
    for name, value in form.items():
        if name != "expected_specialties":
            assert re.search(rf'name="{name}"[^>]* value="{re.escape(value)}"', page.text), name
    assert 'name="expected_specialties" value="breast_surgery" checked' in page.text
    assert world.run(lambda: db.session.scalar(select(Meeting.id))) is None


def test_the_coordinator_moves_a_meeting_and_a_bad_time_is_refused_beside_the_field(world):
    meeting_id = _meeting(world)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert 'name="date" value="2027-03-01"' in page and 'name="time" value="16:00"' in page

    refused = coordinator.post(
        f"/meetings/{meeting_id}/move", data={"date": "2027-03-02", "time": "25:00"}
    )
    assert refused.status_code == 422
    assert re.search(r'id="err-time">must be a time written as HH:MM', refused.text)
    assert 'name="date" value="2027-03-02"' in refused.text

    moved = coordinator.post(
        f"/meetings/{meeting_id}/move", data={"date": "2027-03-02", "time": "08:15"}
    )
    assert moved.status_code == 303
    starts = world.run(lambda: db.session.get(Meeting, meeting_id).starts_at)
    assert starts == dt.datetime(2027, 3, 2, 8, 15, tzinfo=dt.UTC)
    assert "moved to 2027-03-02 08:15 UTC" in coordinator.get(f"/meetings/{meeting_id}").text


def test_a_cancelled_meeting_says_so_keeps_its_agenda_and_takes_no_more_cases(world):
    ready = _ready(world, "Ada Patient", "MRN-0001")
    meeting_id = _meeting(world)
    _on_agenda(world, meeting_id, ready)
    coordinator = world.client("coordinator")
    assert coordinator.post(f"/meetings/{meeting_id}/cancel").status_code == 303
    assert world.run(lambda: db.session.get(Meeting, meeting_id).status) == "cancelled"
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert "This meeting is cancelled" in page and f'id="case-{ready}"' in page
    assert "Move the meeting" not in page and "Add to the agenda" not in page
    moved = coordinator.post(
        f"/meetings/{meeting_id}/move", data={"date": "2027-03-02", "time": "08:15"}
    )
    assert moved.status_code == 303
    assert "A cancelled meeting cannot be moved" in coordinator.get(f"/meetings/{meeting_id}").text


# --- Attendance ----------------------------------------------------------------------------


def test_the_coordinator_ticks_who_was_there_and_the_page_remembers(world):
    meeting_id = _meeting(world, expected_specialties=["pathology"])
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/meetings/{meeting_id}").text
    # The board's people: reviewers and coordinators, never referrers or administrators.
    for who in ("pathologist", "pathologist2", "medonc", "coordinator"):
        assert f'name="user_ids" value="{world.ids[who]}"' in page
    for who in ("referrer", "admin"):
        assert f'name="user_ids" value="{world.ids[who]}"' not in page

    present = [world.ids["pathologist"], world.ids["coordinator"]]
    saved = coordinator.post(f"/meetings/{meeting_id}/attendance", data={"user_ids": present})
    assert saved.status_code == 303
    stored = world.run(lambda: sorted(db.session.scalars(select(MeetingAttendance.user_id)).all()))
    assert stored == sorted(present)
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert "Attendance saved: 2 people were there." in page
    assert f'value="{world.ids["pathologist"]}" checked' in page
    assert f'value="{world.ids["medonc"]}" checked' not in page

    refused = coordinator.post(f"/meetings/{meeting_id}/attendance", data={"user_ids": ["9999"]})
    assert refused.status_code == 303
    assert (
        "The attendance was not saved: Unknown users: [9999]"
        in coordinator.get(f"/meetings/{meeting_id}").text
    )
    assert world.run(
        lambda: sorted(db.session.scalars(select(MeetingAttendance.user_id)).all())
    ) == sorted(present)


# --- The agenda ----------------------------------------------------------------------------


def test_the_agenda_offers_only_cases_the_board_may_discuss_and_refuses_others_beside_the_field(
    world,
):
    ready = _ready(world, "Ada Patient", "MRN-0001")
    discordant = _routed(
        world,
        patient=_patient("Bea Patient", "MRN-0002"),
        requested_specialties=["medical_oncology"],
    )
    _sign_all(world, discordant, pathology={"stage": STAGE_DIFFERS}, medical_oncology=None)
    quiet = _routed(world, patient=_patient("Cleo Patient", "MRN-0003"))
    assert _status(world, discordant) == _status(world, quiet) == "in_review"

    meeting_id = _meeting(world)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert f'<option value="{ready}">#{ready} · Ada Patient' in page and "ready for board" in page
    assert f'<option value="{discordant}">#{discordant} · Bea Patient' in page
    assert "major discordance" in page
    assert f'<option value="{quiet}">' not in page

    refused = coordinator.post(f"/meetings/{meeting_id}/agenda", data={"case_id": str(quiet)})
    assert refused.status_code == 422
    assert re.search(r'id="err-case_id">Only a case ready for board', refused.text)
    empty = coordinator.post(f"/meetings/{meeting_id}/agenda", data={"case_id": ""})
    assert empty.status_code == 422 and 'id="err-case_id">choose a case to add' in empty.text

    for case_id in (ready, discordant):
        added = coordinator.post(f"/meetings/{meeting_id}/agenda", data={"case_id": str(case_id)})
        assert added.status_code == 303
    assert _agenda(world, meeting_id) == [ready, discordant]
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert f'<option value="{ready}">' not in page  # on the agenda: no longer offered

    removed = coordinator.post(f"/meetings/{meeting_id}/agenda/{ready}/remove")
    assert removed.status_code == 303
    assert _agenda(world, meeting_id) == [discordant]


def test_each_agenda_item_shows_the_case_its_stage_check_and_every_verdict_side_by_side(world):
    # The pathologist upstages (a major discordance on the stage); the oncologist concurs.
    case_id = _ready(
        world,
        "Ada Patient",
        "MRN-0001",
        pathology={"stage": STAGE_DIFFERS},
    )
    # A submitted group the board computes differently is flagged (cT2 cN0 cM0 is IIA).
    other = _ready(
        world,
        "Bea Patient",
        "MRN-0002",
        case={"stage": {"t": "cT2", "n": "cN0", "m": "cM0", "anatomic": "IIB"}},
    )
    meeting_id = _meeting(world)
    _on_agenda(world, meeting_id, case_id, other)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert _posting_forms_lack_csrf(page) == []

    item = page.split(f'id="case-{case_id}"')[1].split('id="case-')[0]
    assert "Ada Patient" in item and "Please confirm the grade and receptor status." in item
    assert "After biopsy" in item and "Dr. Rhea Referrer" in item and "MRN-0001" in item
    # Every reviewer's verdict per dimension, with severity, alternative and rationale.
    for name in ("Dr. Paula Pathologist", "Dr. Max Oncologist"):
        assert name in item
    assert '<span class="badge differ">differ</span> <span class="badge major">major</span>' in item
    assert "The MRI shows a 5.5 cm mass." in item and "cT3" in item
    # Where the two disagree (the stage) their cells are highlighted; nowhere else.
    side_by_side = item.split('class="list side-by-side"')[1]
    rows = re.findall(
        r"<tr(?: class=\"disagreement\")?>\s*<th scope=\"row\">(\w[\w ]*)", side_by_side
    )
    assert rows[:3] == ["Diagnosis", "Stage", "Treatment plan"]
    stage_row = item.split('<tr class="disagreement">')[1].split("</tr>")[0]
    assert "Stage" in stage_row and stage_row.count('<td class="disagree">') == 2
    assert item.count('<tr class="disagreement">') == 1
    assert "reviewers disagree on the stage" in item
    # The way to the consensus form, and the way back from it.
    assert f'href="/cases/{case_id}#consensus"' in item and "Record the consensus" in item
    case_page = coordinator.get(f"/cases/{case_id}").text
    assert f'href="/meetings/{meeting_id}#case-{case_id}"' in case_page

    # Opening the meeting reads every case on its agenda: one audit row per case.
    read = world.run(
        lambda: sorted(
            db.session.scalars(
                select(AuditEvent.case_id).where(
                    AuditEvent.action == "meeting_case_view",
                    AuditEvent.object_id == meeting_id,
                    AuditEvent.actor_id == world.ids["coordinator"],
                )
            ).all()
        )
    )
    assert read == sorted([case_id, other])

    flagged = page.split(f'id="case-{other}"')[1]
    assert '<tr class="flagged">' in flagged and "IIB" in flagged and "IIA" in flagged
    assert "differs from the AJCC 8th group the board computes" in flagged
    # Both reviewers of this case concur on everything: nothing is highlighted.
    assert 'class="disagree"' not in flagged and "reviewers disagree" not in flagged


def test_the_agenda_is_reordered_by_up_and_down_buttons_without_script(world):
    first, second, third = (
        _ready(world, name, f"MRN-{n}")
        for n, name in enumerate(("Ada Patient", "Bea Patient", "Cleo Patient"), start=1)
    )
    meeting_id = _meeting(world)
    _on_agenda(world, meeting_id, first, second, third)
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert page.index(f'id="case-{first}"') < page.index(f'id="case-{third}"')
    assert 'src="/static/agenda.js"' in page and "<script>" not in page

    moved = coordinator.post(
        f"/meetings/{meeting_id}/agenda/{third}/move", data={"direction": "up"}
    )
    assert moved.status_code == 303 and moved.headers["Location"].endswith(f"#order-{third}")
    assert _agenda(world, meeting_id) == [first, third, second]
    coordinator.post(f"/meetings/{meeting_id}/agenda/{first}/move", data={"direction": "down"})
    assert _agenda(world, meeting_id) == [third, first, second]
    # At the top already: nothing moves.
    coordinator.post(f"/meetings/{meeting_id}/agenda/{third}/move", data={"direction": "up"})
    assert _agenda(world, meeting_id) == [third, first, second]
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert page.index(f'id="case-{third}"') < page.index(f'id="case-{first}"')
    assert page.index(f'id="case-{first}"') < page.index(f'id="case-{second}"')


def test_the_drag_and_drop_script_saves_the_whole_order_and_a_wrong_order_is_refused(world):
    first, second = (_ready(world, n, f"MRN-{i}") for i, n in enumerate(("Ada P", "Bea P")))
    meeting_id = _meeting(world)
    _on_agenda(world, meeting_id, first, second)
    coordinator = world.client("coordinator")
    saved = coordinator.post(
        f"/meetings/{meeting_id}/agenda/order",
        data={"case_ids": [str(second), str(first)]},
        headers={"Accept": "application/json"},
    )
    assert saved.status_code == 200 and saved.get_json() == {"case_ids": [second, first]}
    assert _agenda(world, meeting_id) == [second, first]

    wrong = coordinator.post(
        f"/meetings/{meeting_id}/agenda/order",
        data={"case_ids": [str(second)]},
        headers={"Accept": "application/json"},
    )
    assert wrong.status_code == 409
    assert "every case on the agenda exactly once" in wrong.get_json()["error"]
    assert _agenda(world, meeting_id) == [second, first]
    # The same address as a plain form post answers with the page.
    plain = coordinator.post(
        f"/meetings/{meeting_id}/agenda/order", data={"case_ids": [str(first), str(second)]}
    )
    assert plain.status_code == 303 and _agenda(world, meeting_id) == [first, second]


def test_consensus_from_the_agenda_then_release_from_the_meeting_page(world):
    case_id = _ready(world, "Ada Patient", "MRN-0001")
    meeting_id = _meeting(world)
    _on_agenda(world, meeting_id, case_id)
    coordinator = world.client("coordinator")
    signed = coordinator.post(f"/cases/{case_id}/consensus", data={"summary": "Plan confirmed."})
    assert signed.status_code == 303
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert "Consensus version 1 signed by Dr. Cora Coordinator" in page
    assert "Release the second opinion" in page
    released = coordinator.post(f"/cases/{case_id}/release", data={"meeting_id": str(meeting_id)})
    assert released.status_code == 303
    assert released.headers["Location"].endswith(f"/meetings/{meeting_id}#case-{case_id}")
    assert _status(world, case_id) == "reported"
    page = coordinator.get(f"/meetings/{meeting_id}").text
    assert f"The second opinion is released (case #{case_id})" in page
    assert "released 20" in page


# --- Medications in the consensus and in a reviewer's plan alternative ----------------------


def test_the_consensus_form_records_medications_and_refuses_a_bad_dose_beside_its_row(world):
    case_id = _ready(world, "Ada Patient", "MRN-0001")
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/cases/{case_id}").text
    assert 'name="plan.medications.0.name"' in page and 'name="plan.medications.2.route"' in page

    form = {
        "summary": "Add ovarian function suppression to letrozole.",
        "plan.medications.0.name": "",
        "plan.medications.1.name": "letrozole",
        "plan.medications.1.dose": "-2.5",
        "plan.medications.1.unit": "mg",
        "plan.medications.1.route": "oral",
        "plan.medications.1.frequency": "daily",
    }
    refused = coordinator.post(f"/cases/{case_id}/consensus", data=form)
    assert refused.status_code == 422
    # The empty first row is dropped: the message is beside the row as shown again (row 0).
    assert re.search(r'id="err-plan.medications.0.dose">must be greater than 0', refused.text)
    assert 'name="plan.medications.0.name" value="letrozole"' in refused.text

    signed = coordinator.post(
        f"/cases/{case_id}/consensus",
        data={
            **form,
            "plan.medications.1.dose": "2.5",
            "plan.medications.2.name": "goserelin",
            "plan.medications.2.dose": "3.6",
            "plan.medications.2.unit": "mg",
            "plan.medications.2.route": "subcutaneous",
            "plan.medications.2.frequency": "every 28 days",
        },
    )
    assert signed.status_code == 303
    plan = world.run(lambda: db.session.scalar(select(Consensus.plan)))
    assert plan == {
        "medications": [
            {"name": "letrozole", "dose": 2.5, "unit": "mg", "route": "oral", "frequency": "daily"},
            {
                "name": "goserelin",
                "dose": 3.6,
                "unit": "mg",
                "route": "subcutaneous",
                "frequency": "every 28 days",
            },
        ]
    }
    page = coordinator.get(f"/cases/{case_id}").text
    assert "goserelin</strong> 3.6 mg · subcutaneous · every 28 days" in page


def test_a_reviewers_plan_alternative_carries_medications_with_messages_beside_each_row(world):
    case_id = _routed(world)
    assignment_id = world.run(
        lambda: db.session.scalar(select(Assignment.id).where(Assignment.case_id == case_id))
    )
    reviewer_name = world.run(
        lambda: db.session.get(Assignment, assignment_id).reviewer_id  # type: ignore[union-attr]
    )
    who = next(name for name, uid in world.ids.items() if uid == reviewer_name)
    client = world.client(who)
    client.post(f"/assignments/{assignment_id}/accept")
    page = client.get(f"/assignments/{assignment_id}").text
    assert 'name="plan.alternative.medications.0.name"' in page
    form = {
        "diagnosis.verdict": "concur",
        "stage.verdict": "concur",
        "plan.verdict": "differ",
        "plan.severity": "major",
        "plan.rationale": "Premenopausal: add ovarian function suppression.",
        "plan.alternative.medications.0.name": "goserelin",
        "plan.alternative.medications.0.dose": "3.6",
        "plan.alternative.medications.0.route": "subcutaneous",
        "plan.alternative.medications.0.frequency": "every 28 days",
    }
    refused = client.post(f"/assignments/{assignment_id}/review", data=form)
    assert refused.status_code == 422
    assert re.search(r'id="err-plan.alternative.medications.0.unit">is required', refused.text)
    assert 'name="plan.alternative.medications.0.dose" value="3.6"' in refused.text

    signed = client.post(
        f"/assignments/{assignment_id}/review",
        data={**form, "plan.alternative.medications.0.unit": "mg"},
    )
    assert signed.status_code == 303
    alternative = world.run(
        lambda: db.session.scalar(select(Review)).verdict_for("plan").alternative
    )
    assert alternative == {
        "medications": [
            {
                "name": "goserelin",
                "dose": 3.6,
                "unit": "mg",
                "route": "subcutaneous",
                "frequency": "every 28 days",
            }
        ]
    }


# --- After release: follow-up questions, answers, the outcome --------------------------------


def test_the_referrer_asks_up_to_three_follow_up_questions_and_is_told_when_the_limit_is_reached(
    world,
):
    case_id = _released(world)
    referrer = world.client("referrer")
    page = referrer.get(f"/cases/{case_id}/second-opinion").text
    assert "Ask the board a follow-up question" in page and "3 left" in page
    assert _posting_forms_lack_csrf(page) == []

    empty = referrer.post(f"/cases/{case_id}/follow-ups", data={"question": "   "})
    assert empty.status_code == 422
    assert re.search(r'id="err-question">(is required|must not be empty)', empty.text)

    for n in range(1, 4):
        asked = referrer.post(
            f"/cases/{case_id}/follow-ups", data={"question": f"Question {n}: and radiation?"}
        )
        assert asked.status_code == 303
    page = referrer.get(f"/cases/{case_id}/second-opinion").text
    assert "Ask the board a follow-up question" not in page
    assert "You have asked the 3 follow-up questions the board answers per case" in page
    assert page.count("waiting for the board\u2019s answer") == 3

    fourth = referrer.post(f"/cases/{case_id}/follow-ups", data={"question": "One more?"})
    assert fourth.status_code == 422
    assert 'id="err-question" role="alert">At most 3 follow-up questions per case' in fourth.text
    assert world.run(lambda: len(db.session.scalars(select(FollowUpQuestion)).all())) == 3


def test_the_coordinator_answers_an_open_question_and_the_answer_is_the_addendum(world):
    case_id = _released(world)
    world.client("referrer").post(
        f"/cases/{case_id}/follow-ups", data={"question": "Should she also have radiation?"}
    )
    question_id = world.run(lambda: db.session.scalar(select(FollowUpQuestion.id)))
    coordinator = world.client("coordinator")
    dashboard = coordinator.get("/board").text
    assert f'href="/cases/{case_id}#follow-up-{question_id}"' in dashboard
    page = coordinator.get(f"/cases/{case_id}").text
    assert "Should she also have radiation?" in page and "Send the answer" in page
    assert _posting_forms_lack_csrf(page) == []

    refused = coordinator.post(
        f"/follow-ups/{question_id}/answer", data={"answer": " ", "case_id": str(case_id)}
    )
    assert refused.status_code == 422
    assert re.search(
        rf'id="err-answer-{question_id}">(is required|must not be empty)', refused.text
    )

    answer = "Yes: whole-breast radiation after lumpectomy."
    answered = coordinator.post(
        f"/follow-ups/{question_id}/answer", data={"answer": answer, "case_id": str(case_id)}
    )
    assert answered.status_code == 303
    assert answered.headers["Location"].endswith(f"/cases/{case_id}#follow-ups")
    again = coordinator.post(
        f"/follow-ups/{question_id}/answer", data={"answer": "Edit", "case_id": str(case_id)}
    )
    assert again.status_code == 303
    assert "the addendum is not edited" in coordinator.get(f"/cases/{case_id}").text
    assert "None: every follow-up question is answered." in coordinator.get("/board").text

    opinion = world.client("referrer").get(f"/cases/{case_id}/second-opinion").text
    addendum = opinion.split("Addendum: follow-up questions")[1]
    assert "Should she also have radiation?" in addendum and answer in addendum


def test_the_referrer_records_the_outcome_and_partly_or_not_needs_the_reason(world):
    case_id = _released(world)
    referrer = world.client("referrer")
    page = referrer.get(f"/cases/{case_id}/second-opinion").text
    assert "Was the recommendation carried out?" in page

    refused = referrer.post(f"/cases/{case_id}/implementation", data={"implementation": "partly"})
    assert refused.status_code == 422
    assert re.search(r'id="err-note">say why the recommendation was not fully', refused.text)
    assert 'name="implementation" value="partly" checked' in refused.text
    missing = referrer.post(f"/cases/{case_id}/implementation", data={"note": "x"})
    assert missing.status_code == 422 and 'id="err-implementation">is required' in missing.text
    bad = referrer.post(f"/cases/{case_id}/implementation", data={"implementation": "mostly"})
    assert bad.status_code == 422
    assert 'id="err-implementation">must be one of fully, partly or not' in bad.text

    recorded = referrer.post(
        f"/cases/{case_id}/implementation",
        data={"implementation": "partly", "note": "The patient declined radiation."},
    )
    assert recorded.status_code == 303
    case = world.run(
        lambda: (lambda c: (c.implementation, c.implementation_note))(db.session.get(Case, case_id))
    )
    assert case == ("partly", "The patient declined radiation.")
    page = referrer.get(f"/cases/{case_id}/second-opinion").text
    assert "partly carried out" in page and "The patient declined radiation." in page
    assert "Update the outcome" in page
    # The coordinator reads it, without a form.
    preview = world.client("coordinator").get(f"/cases/{case_id}/second-opinion").text
    assert "The patient declined radiation." in preview and "Record the outcome" not in preview


# --- Who may use these pages -------------------------------------------------------------------


def test_meeting_pages_and_forms_answer_404_to_every_role_but_the_coordinator(world):
    case_id = _ready(world, "Ada Patient", "MRN-0001")
    meeting_id = _meeting(world)
    _on_agenda(world, meeting_id, case_id)
    requests = [
        ("get", "/meetings", None),
        ("post", "/meetings", {"date": "2027-03-01", "time": "16:00", "place": "Room 4"}),
        ("get", f"/meetings/{meeting_id}", None),
        ("post", f"/meetings/{meeting_id}/move", {"date": "2027-03-02", "time": "08:00"}),
        ("post", f"/meetings/{meeting_id}/cancel", None),
        ("post", f"/meetings/{meeting_id}/attendance", {"user_ids": ["1"]}),
        ("post", f"/meetings/{meeting_id}/agenda", {"case_id": str(case_id)}),
        ("post", f"/meetings/{meeting_id}/agenda/{case_id}/remove", None),
        ("post", f"/meetings/{meeting_id}/agenda/{case_id}/move", {"direction": "up"}),
        ("post", f"/meetings/{meeting_id}/agenda/order", {"case_ids": [str(case_id)]}),
    ]
    for who in ("referrer", "pathologist", "medonc", "admin"):
        client = world.client(who)
        for method, path, data in requests:
            response = getattr(client, method)(path, data=data)
            assert response.status_code == 404, (who, method, path, response.status_code)
    coordinator = world.client("coordinator")
    assert coordinator.get("/meetings/9999").status_code == 404
    assert coordinator.post("/meetings/9999/cancel").status_code == 404
    assert coordinator.post(f"/meetings/{meeting_id}/agenda/9999/remove").status_code == 404
    # Nothing changed.
    assert world.run(lambda: db.session.get(Meeting, meeting_id).status) == "scheduled"
    assert world.run(lambda: len(db.session.scalars(select(Meeting)).all())) == 1
    assert _agenda(world, meeting_id) == [case_id]
    assert world.run(lambda: db.session.scalar(select(MeetingAttendance.id))) is None


def test_follow_ups_and_outcome_belong_to_the_cases_own_referrer_and_answers_to_the_coordinator(
    world,
):
    case_id = _released(world)
    world.client("referrer").post(f"/cases/{case_id}/follow-ups", data={"question": "Why?"})
    question_id = world.run(lambda: db.session.scalar(select(FollowUpQuestion.id)))
    for who in ("other_referrer", "pathologist", "coordinator", "admin"):
        client = world.client(who)
        asked = client.post(f"/cases/{case_id}/follow-ups", data={"question": "Mine?"})
        outcome = client.post(f"/cases/{case_id}/implementation", data={"implementation": "fully"})
        assert (asked.status_code, outcome.status_code) == (404, 404), who
    for who in ("referrer", "other_referrer", "pathologist", "admin"):
        answered = world.client(who).post(
            f"/follow-ups/{question_id}/answer", data={"answer": "No.", "case_id": str(case_id)}
        )
        assert answered.status_code == 404, who
    for who in ("other_referrer", "pathologist", "admin"):
        assert world.client(who).get(f"/cases/{case_id}/second-opinion").status_code == 404
    assert (
        world.client("coordinator")
        .post("/follow-ups/9999/answer", data={"answer": "x"})
        .status_code
        == 404
    )
    assert world.run(lambda: len(db.session.scalars(select(FollowUpQuestion)).all())) == 1
    assert world.run(lambda: db.session.get(FollowUpQuestion, question_id).answer) is None
    assert world.run(lambda: db.session.get(Case, case_id).implementation) is None


def test_before_release_the_referrer_cannot_ask_and_is_told_why(world):
    case_id = _ready(world, "Ada Patient", "MRN-0001")
    referrer = world.client("referrer")
    asked = referrer.post(f"/cases/{case_id}/follow-ups", data={"question": "Any news?"})
    assert asked.status_code == 303 and asked.headers["Location"].endswith(f"/cases/{case_id}")
    assert "The second opinion has not been released yet" in referrer.get(f"/cases/{case_id}").text
    assert world.run(lambda: db.session.scalar(select(FollowUpQuestion.id))) is None
    assert follow_ups.MAX_QUESTIONS == 3
