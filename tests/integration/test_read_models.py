"""The one-statement reads say what the ORM rows say, on PostgreSQL and on SQLite (the
embedded `make run` mode): the case file (board/cases/case_file.py) of a case with
records, a timeline, assignments, signed reviews that disagree and a records request;
the case's own row as the API reads it; and the dashboard's counts, overdue cases and
newest unroutable cases (board/cases/dashboard.py) beside a plain count of the cases,
before and after the status counts are folded."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import time_machine
from sqlalchemy import func, select, text

from board.auth.roles import Role
from board.cases import case_file, record_requests, status_counts
from board.cases import dashboard as dashboard_widgets
from board.cases import services as cases
from board.cases.models import Case, CaseEvent, Record, RecordRequest
from board.cases.schemas import CaseInput
from board.extensions import db
from board.reviews import services as reviews
from board.reviews.models import Assignment, Review
from board.reviews.schemas import ReviewInput
from board.routing.services import requirements_for, route_case
from board.validation import parse
from tests.support import factories as f
from tests.support.embedded import sqlite_board


@pytest.fixture(params=["postgresql", "sqlite"])
def board(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        request.getfixturevalue("ctx")
        yield "postgresql"
        return
    with sqlite_board(tmp_path):
        yield "sqlite"


def _disagreeing_case() -> tuple[int, dict[str, Any]]:
    """A post-biopsy case asking for medical oncology: routed, a second pathologist
    added by hand, the two pathologists signed and disagree on the diagnosis, the
    oncologist asked for an imaging report (the request is open) and signed."""
    home, away = f.institution("Home Oncology"), f.institution("University Breast Center")
    people = {
        "referrer": f.user(Role.REFERRER, home, name="Dr. Rhea Referrer"),
        "pathologist": f.user(Role.PATHOLOGIST, away, name="Dr. Paula Pathologist"),
        "pathologist2": f.user(Role.PATHOLOGIST, f.institution("Third Lab"), name="Dr. Pia"),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away, name="Dr. Max Oncologist"),
        "coordinator": f.user(Role.COORDINATOR, away, name="Dr. Cora Coordinator"),
    }
    ids = {name: person.id for name, person in people.items()}
    referrer = people["referrer"]
    body = f.case_body(requested_specialties=["medical_oncology"])
    case_id = cases.create_draft(referrer, parse(CaseInput, body)).id
    cases.add_record(referrer, case_id, kind="pathology_report", filename="core.pdf", data=f.pdf())
    cases.submit(referrer, case_id)
    route_case(case_id)
    reviews.assign_by_hand(people["coordinator"], case_id, ids["pathologist2"])

    def assignment_of(who: str) -> int:
        return db.session.scalar(
            select(Assignment.id).where(
                Assignment.case_id == case_id, Assignment.reviewer_id == ids[who]
            )
        )

    record_requests.request_records(
        db.session.get(type(referrer), ids["medonc"]),
        assignment_of("medonc"),
        ["imaging_report"],
        "The mammogram report, please.",
    )
    differ = {
        "verdict": "differ",
        "severity": "major",
        "alternative": {"histologic_type": "invasive_lobular"},
        "rationale": "E-cadherin negative.",
        "reasons": ["histologic_type"],
    }
    for who, verdicts in (("pathologist", {}), ("pathologist2", {"diagnosis": differ})):
        reviews.submit_review(
            db.session.get(type(referrer), ids[who]),
            assignment_of(who),
            parse(ReviewInput, f.review_body(**verdicts)),
        )
    db.session.remove()
    return case_id, ids


def _orm_view(case_id: int) -> dict[str, Any]:
    """What the ORM rows say, in the shape compared below."""
    case = db.session.get(Case, case_id)
    assert case is not None
    records = db.session.scalars(
        select(Record).where(Record.case_id == case_id).order_by(Record.id)
    )
    events = db.session.scalars(
        select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(CaseEvent.id)
    )
    assignments = db.session.scalars(
        select(Assignment).where(Assignment.case_id == case_id).order_by(Assignment.id)
    ).all()
    signed = db.session.scalars(
        select(Review).where(Review.case_id == case_id).order_by(Review.id)
    ).all()
    requests = db.session.scalars(
        select(RecordRequest).where(RecordRequest.case_id == case_id).order_by(RecordRequest.id)
    )
    return {
        "records": [(r.id, r.kind, r.filename, r.page_count, r.sha256) for r in records],
        "events": [(e.to_status, e.actor.name if e.actor else None) for e in events],
        "assignments": [
            (
                a.id,
                a.reviewer.name,
                a.reviewer.institution.name,
                a.specialty,
                a.purpose,
                a.status,
                a.due_at,
                a.is_overdue(),
            )
            for a in assignments
        ],
        "reviews": [
            (
                r.id,
                r.assignment_id,
                r.reviewer.name,
                r.signed_at,
                [
                    (v.dimension, v.verdict, v.severity, v.alternative, v.reasons)
                    for v in r.verdicts
                ],
            )
            for r in signed
        ],
        "requests": [
            (q.id, q.requested_by.specialty, q.kinds, q.message, q.closed_at) for q in requests
        ],
        "requirements": requirements_for(case),
    }


def _file_view(found: case_file.CaseFile) -> dict[str, Any]:
    return {
        "records": [(r.id, r.kind, r.filename, r.page_count, r.sha256) for r in found.records],
        "events": [(e.to_status, e.actor.name if e.actor else None) for e in found.events],
        "assignments": [
            (
                a.id,
                a.reviewer.name,
                a.reviewer.institution.name if a.reviewer.institution else None,
                a.specialty,
                a.purpose,
                a.status,
                a.due_at,
                a.is_overdue(),
            )
            for a in found.assignments
        ],
        "reviews": [
            (
                r.id,
                r.assignment_id,
                r.reviewer.name,
                r.signed_at,
                [
                    (v.dimension, v.verdict, v.severity, v.alternative, v.reasons)
                    for v in r.verdicts
                ],
            )
            for r in found.reviews
        ],
        "requests": [
            (q.id, q.requested_by.specialty, q.kinds, q.message, q.closed_at)
            for q in found.record_requests
        ],
        "requirements": found.requirements(),
    }


def test_the_case_file_says_what_the_orm_rows_say(board: str) -> None:
    case_id, _ = _disagreeing_case()
    expected = _orm_view(case_id)
    assert len(expected["assignments"]) == 3 and len(expected["reviews"]) == 2
    assert expected["requests"] and expected["events"]
    case = db.session.get(Case, case_id)
    assert case is not None
    found = case_file.load(case, coordinator=True)
    assert _file_view(found) == expected
    assert [(d.specialty, d.dimension) for d in found.disagreements()] == [
        ("pathology", "diagnosis")
    ]
    assert found.consensus is None and found.fhir_import is None
    assert found.agenda_meetings == () and found.follow_up_questions == ()
    # The API's read: the case's own row too, column for column.
    by_id = case_file.load_by_id(case_id)
    assert by_id is not None and _file_view(by_id) == expected
    for field in dataclasses.fields(case_file.FileCase):
        assert getattr(by_id.case, field.name) == getattr(case, field.name), field.name
    assert by_id.case.is_overdue() == case.is_overdue()
    assert case_file.load_by_id(case_id + 1000) is None


def _count_by_status() -> dict[str, int]:
    rows = db.session.execute(select(Case.status, func.count()).group_by(Case.status)).all()
    return {status: int(n) for status, n in rows}


def test_the_dashboard_counts_agree_with_a_count_of_the_cases(
    board: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id, ids = _disagreeing_case()
    referrer = db.session.get(type(db.session.get(Case, case_id).referrer), ids["referrer"])
    drafts = [cases.create_draft(referrer, parse(CaseInput, f.case_body())).id for _ in range(3)]
    cases.withdraw(referrer, drafts[0], "Sent to the wrong board.")
    db.session.remove()
    widgets = dashboard_widgets.widgets()
    assert widgets.counts == _count_by_status()
    assert widgets.counts == {"draft": 2, "withdrawn": 1, "awaiting_records": 1}
    assert widgets.total == 4 and widgets.overdue == 0
    # Folded into one row per status, the sums stay.
    assert status_counts.roll_up() > len(widgets.counts)
    assert dashboard_widgets.widgets().counts == _count_by_status()
    rows = db.session.scalar(text("SELECT count(*) FROM case_status_counts"))
    assert rows == 3
    # The referrer answers without the record: the clock runs again, the case is in
    # review, and a week and a day later it is overdue (counted up to the cap).
    request_id = db.session.scalar(select(RecordRequest.id).where(RecordRequest.case_id == case_id))
    referrer = db.session.get(type(referrer), ids["referrer"])
    record_requests.answer_request(referrer, request_id, "No mammogram was done.")
    db.session.remove()
    assert dashboard_widgets.widgets().counts == _count_by_status()
    assert _count_by_status()["in_review"] == 1
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=8)
    with time_machine.travel(later, tick=False):
        assert dashboard_widgets.widgets().overdue == 1
        monkeypatch.setattr(dashboard_widgets, "COUNT_CAP", 0)
        assert dashboard_widgets.widgets().overdue == 0
        monkeypatch.undo()
    assert dashboard_widgets.widgets().overdue == 0


def test_a_large_fold_of_the_status_counts_keeps_their_sums(board: str) -> None:
    """Hundreds of +1/-1 rows (a busy few seconds) fold to one row per status, and the
    table is vacuumed after (PostgreSQL) without changing what it sums to."""
    rows = [{"status": "draft", "n": 1}, {"status": "draft", "n": -1}] * 150
    rows += [{"status": "submitted", "n": 1}] * 3
    db.session.execute(
        text("INSERT INTO case_status_counts (status, n) VALUES (:status, :n)"), rows
    )
    db.session.commit()
    assert status_counts.roll_up() == 303
    db.session.remove()
    assert dashboard_widgets.widgets().counts == {"submitted": 3}
    assert db.session.scalar(text("SELECT count(*) FROM case_status_counts")) == 1
