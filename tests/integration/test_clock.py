"""The review clock under a frozen clock: reminders before due and at due, escalation,
auto-reassignment, the pause, and idempotency (a second run or a second notification
with the same key sends nothing twice)."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from sqlalchemy import create_engine, func, select, text

from board.auth.roles import Role
from board.cases.models import Case
from board.extensions import db
from board.notifications import services as notifications
from board.notifications.models import Notification
from board.notifications.services import notify
from board.outbox.models import OutboxMessage
from board.reviews import clock_service
from board.reviews.clock_service import run_clock
from board.reviews.models import Assignment
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api
from tests.support.services import DATABASE_URL

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)  # a Monday: submitted, routed
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
DUE = T0 + 7 * DAY  # REVIEW_DAYS


@pytest.fixture
def world(client, ctx):
    home, away = f.institution("Home Oncology"), f.institution("University Breast Center")
    people = {
        "referrer": f.person(Role.REFERRER, home),
        "pathologist": f.person(Role.PATHOLOGIST, away),
        "second_pathologist": f.person(Role.PATHOLOGIST, f.institution("Far Away")),
        "home_pathologist": f.person(Role.PATHOLOGIST, home),  # never eligible
        "coordinator": f.person(Role.COORDINATOR, away),
    }
    return {"client": client, "people": people}


def api(world, who: str) -> Api:
    """A fresh login: under a travelling clock a token issued days ago has expired."""
    return Api(world["client"], world["people"][who].email)


def routed_case(world) -> int:
    """A post-biopsy case, submitted and routed to the first pathologist."""
    referrer = api(world, "referrer")
    case_id = referrer.post("/cases", f.case_body()).get_json()["id"]
    assert referrer.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    assert referrer.post(f"/cases/{case_id}/submit").status_code == 202
    route_case(case_id)
    return case_id


def the_assignment(case_id: int) -> Assignment:
    db.session.expire_all()
    (assignment,) = db.session.scalars(select(Assignment).where(Assignment.case_id == case_id))
    return assignment


def kinds_for(world, who: str) -> list[str]:
    return list(
        db.session.scalars(
            select(Notification.kind)
            .where(Notification.user_id == world["people"][who].id)
            .order_by(Notification.id)
        )
    )


def clock_notes() -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.kind.in_(["review_due_soon", "review_due", "overdue"]))
            .order_by(Notification.id)
        )
    )


def emails_queued() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.task == "notifications.send_email")
    )


def at(moment: dt.datetime):
    return time_machine.travel(moment, tick=False)


def test_a_week_on_the_clock_sends_one_reminder_before_due_one_at_due_and_one_escalation(world):
    with at(T0):
        case_id = routed_case(world)
    assert the_assignment(case_id).due_at == DUE

    # (moment, what the pathologist has been told, what the coordinator has been told)
    walk = [
        (T0 + 4 * DAY, [], []),
        (DUE - 48 * HOUR - dt.timedelta(minutes=1), [], []),
        (DUE - 47 * HOUR, ["review_due_soon"], []),
        (DUE - 2 * HOUR, ["review_due_soon"], []),
        (DUE, ["review_due_soon", "review_due"], []),
        (DUE + dt.timedelta(minutes=1), ["review_due_soon", "review_due"], ["overdue"]),
        (DUE + 3 * DAY, ["review_due_soon", "review_due"], ["overdue"]),
    ]
    for moment, reviewer_told, coordinator_told in walk:
        with at(moment):
            run_clock()
            run_clock()  # every moment twice: a second run adds nothing
        told = [k for k in kinds_for(world, "pathologist") if k != "assignment"]
        assert told == reviewer_told, moment
        assert kinds_for(world, "coordinator") == coordinator_told, moment

    assignment = the_assignment(case_id)
    assert assignment.reminded_before_due_for == DUE
    assert assignment.reminded_at_due_for == DUE
    assert assignment.overdue_flagged_at == DUE + dt.timedelta(minutes=1)
    soon, due, overdue = clock_notes()
    assert soon.message.startswith("Reminder: your ")
    assert soon.message.endswith(f"review of case #{case_id} is due 2026-03-09 09:00 UTC.")
    assert "is due now" in due.message
    assert f"case #{case_id} was due 2026-03-09 09:00 UTC" in overdue.message
    for note in (soon, due, overdue):
        assert "Ada" not in note.message and "MRN" not in note.message  # no patient data
    # One email message per notification, each queued once.
    assert emails_queued() == db.session.scalar(select(func.count()).select_from(Notification))


def test_running_the_clock_twice_at_the_same_instant_sends_nothing_twice(world):
    with at(T0):
        case_ids = [routed_case(world) for _ in range(3)]
    with at(DUE + HOUR):  # each owes its at-due reminder and its escalation at once
        first = run_clock()
        notes_after_first, emails_after_first = len(clock_notes()), emails_queued()
        second = run_clock()
    assert (first.reminded_at_due, first.escalated) == (3, 3)
    assert (second.checked, second.reminded_at_due, second.escalated) == (0, 0, 0)
    assert notes_after_first == 6
    assert (len(clock_notes()), emails_queued()) == (notes_after_first, emails_after_first)
    keys = [n.key for n in clock_notes()]
    assert len(keys) == len(set(keys))
    assert {the_assignment(c).overdue_flagged_at for c in case_ids} == {DUE + HOUR}


def test_a_paused_case_gets_no_reminder_and_its_moved_due_date_earns_new_ones(world):
    with at(T0):
        case_id = routed_case(world)
    with at(DUE - 47 * HOUR):
        run_clock()
        assignment_id = the_assignment(case_id).id
        asked = api(world, "pathologist").post(
            f"/assignments/{assignment_id}/records-request",
            {"kinds": ["imaging_report"], "message": "The MRI report, please."},
        )
        assert asked.status_code == 201, asked.get_json()
    with at(DUE + 2 * DAY):  # two days past the original due date, still waiting
        assert run_clock().checked == 0
    assert kinds_for(world, "coordinator") == ["records_requested"]
    assert [n.kind for n in clock_notes()] == ["review_due_soon"]

    with at(DUE + 3 * DAY):  # the records arrive: the due date moves on by the wait
        upload = api(world, "referrer").upload(case_id, "imaging_report", f.pdf("MRI"))
        assert upload.status_code == 201
    moved = the_assignment(case_id).due_at
    assert moved == DUE + 3 * DAY + 47 * HOUR
    with at(moved - HOUR):
        assert run_clock().reminded_before_due == 1  # a new due date, a new reminder
    with at(moved + HOUR):
        run_clock()
    assert [n.kind for n in clock_notes()] == [
        "review_due_soon",
        "review_due_soon",
        "review_due",
        "overdue",
    ]
    assert len({n.key for n in clock_notes()}) == 4


def test_auto_reassign_moves_an_overdue_assignment_to_the_next_eligible_reviewer(world):
    with at(T0):
        case_id = routed_case(world)
        case = db.session.get(Case, case_id)
        case.auto_reassign = True
        db.session.commit()
    first = the_assignment(case_id)
    assert first.reviewer_id == world["people"]["pathologist"].id

    with at(DUE + HOUR):
        run = run_clock()
        assert (run.escalated, run.reassigned) == (1, 1)
        assert run_clock().checked == 0

    db.session.expire_all()
    old, new = db.session.scalars(
        select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
    ).all()
    assert old.status == "reassigned" and old.overdue_flagged_at == DUE + HOUR
    # The next eligible pathologist (never the one at the referrer's institution), with
    # a fresh REVIEW_DAYS: the case's due date has passed.
    assert new.reviewer_id == world["people"]["second_pathologist"].id
    assert (new.status, new.purpose, new.specialty) == ("offered", "primary", "pathology")
    assert new.due_at == DUE + HOUR + 7 * DAY
    assert "auto-reassign" in new.reason
    # The first reviewer is told it moved (not reminded it is due); the second is offered it.
    assert kinds_for(world, "pathologist") == ["assignment", "reassigned"]
    assert kinds_for(world, "second_pathologist") == ["assignment"]
    (escalation,) = [n for n in clock_notes() if n.kind == "overdue"]
    assert "moved to the next eligible reviewer" in escalation.message

    # The new assignment runs on its own clock: nothing for it until its window opens.
    with at(DUE + 2 * DAY):
        assert run_clock().checked == 0
    with at(new.due_at + HOUR):
        run = run_clock()
    # Nobody is left who was never on the case: the coordinator is told, it stays.
    assert (run.escalated, run.reassigned) == (1, 0)
    assert the_assignment_of(case_id, world["people"]["second_pathologist"].id).status == "offered"
    last = [n for n in clock_notes() if n.kind == "overdue"][-1]
    assert "no other eligible reviewer" in last.message
    # It stayed, so the at-due reminder it skipped for the move goes at the next tick.
    with at(new.due_at + 2 * HOUR):
        assert run_clock().reminded_at_due == 1
    assert kinds_for(world, "second_pathologist") == ["assignment", "review_due"]


def the_assignment_of(case_id: int, reviewer_id: int) -> Assignment:
    db.session.expire_all()
    return db.session.scalars(
        select(Assignment).where(
            Assignment.case_id == case_id, Assignment.reviewer_id == reviewer_id
        )
    ).one()


def test_a_run_that_fails_midway_repeats_nothing_already_done(world, monkeypatch):
    with at(T0):
        case_ids = [routed_case(world) for _ in range(3)]
    real = clock_service.notify_coordinators
    failed: list[int | None] = []

    def once_failing(**kwargs):
        if kwargs["case_id"] == case_ids[1] and not failed:
            failed.append(kwargs["case_id"])
            raise RuntimeError("SMTP relay misconfigured")  # any bug in one step
        real(**kwargs)

    monkeypatch.setattr(clock_service, "notify_coordinators", once_failing)
    with at(DUE + HOUR):
        run = run_clock()
        assert run.failed == [the_assignment(case_ids[1]).id]
        assert (run.escalated, run.reminded_at_due) == (2, 2)
        again = run_clock()
    # Only the step that failed runs again; the others' marks kept them out.
    assert (again.checked, again.reminded_at_due, again.escalated) == (1, 1, 1)
    notes = clock_notes()
    assert len(notes) == 6 and len({n.key for n in notes}) == 6


def test_an_assignment_another_run_holds_is_left_to_it(world):
    with at(T0):
        case_id = routed_case(world)
    assignment_id = the_assignment(case_id).id
    other = create_engine(DATABASE_URL)
    try:
        with other.connect() as conn, conn.begin():
            # Another run (a second beat) is in the middle of this assignment.
            conn.execute(
                text("SELECT id FROM assignments WHERE id = :id FOR UPDATE"), {"id": assignment_id}
            )
            with at(DUE + HOUR):
                run = run_clock()
            assert (run.left_to_another_run, run.checked, run.escalated) == (1, 0, 0)
    finally:
        other.dispose()
    with at(DUE + HOUR):
        assert run_clock().escalated == 1


def test_notify_with_the_same_key_twice_makes_one_row_and_one_email_message(world):
    who = world["people"]["pathologist"].id
    first = notify(who, kind="review_due", message="Case #1 is due.", key="at_due:1:x")
    second = notify(who, kind="review_due", message="Case #1 is due.", key="at_due:1:x")
    db.session.commit()
    assert first is not None and second is None
    assert db.session.scalar(select(func.count()).select_from(Notification)) == 1
    assert emails_queued() == 1
    # The key is per person: the coordinator may hear of the same event.
    notifications.notify_coordinators(kind="overdue", message="Late.", key="at_due:1:x")
    notifications.notify_coordinators(kind="overdue", message="Late.", key="at_due:1:x")
    db.session.commit()
    assert kinds_for(world, "coordinator") == ["overdue"]
    assert emails_queued() == 2
    # Without a key nothing is deduplicated (a message that is news each time).
    notify(who, kind="note", message="One.")
    notify(who, kind="note", message="One.")
    db.session.commit()
    assert kinds_for(world, "pathologist") == ["review_due", "note", "note"]


def test_a_key_longer_than_its_column_is_folded_into_a_digest(world):
    who = world["people"]["pathologist"].id
    long_a, long_b = "unroutable:" + "a" * 200, "unroutable:" + "a" * 199 + "b"
    assert notify(who, kind="unroutable", message="A.", key=long_a) is not None
    assert notify(who, kind="unroutable", message="B.", key=long_b) is not None
    assert notify(who, kind="unroutable", message="A again.", key=long_a) is None
    db.session.commit()
    stored = db.session.scalars(select(Notification.key)).all()
    assert all(len(k) <= 120 for k in stored) and len(set(stored)) == 2
