"""The pages of every role through Flask's test client (CSRF is off in the shared app;
one test below turns it on). Each request runs in its own application context, as it
does under gunicorn; test data is made through the real services."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings.models import Consensus
from board.cases import services as cases
from board.cases.models import Case, Record
from board.cases.schemas import CaseInput
from board.extensions import db
from board.notifications.models import Notification
from board.reviews import services as reviews
from board.reviews.models import Assignment, Review
from board.reviews.schemas import ReviewInput
from board.routing.services import route_case
from board.validation import parse
from tests.support import factories as f
from tests.support.api import sign_in
from tests.support.services import DATABASE_URL, REDIS_URL


@dataclass
class World:
    """Account ids by name: a referrer at one institution, reviewers at another."""

    app: Flask
    ids: dict[str, int]

    def email(self, who: str) -> str:
        with self.app.app_context():
            return db.session.get(User, self.ids[who]).email  # type: ignore[union-attr]

    def client(self, who: str) -> FlaskClient:
        client = self.app.test_client()
        response = sign_in(client, self.email(who))
        assert response.status_code == 302, response.text
        return client

    def run(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Calls a service (or any function of the app) in its own app context."""
        with self.app.app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    def user(self, who: str) -> User:
        return db.session.get(User, self.ids[who])  # type: ignore[return-value]


@pytest.fixture
def world(app: Flask) -> Iterator[World]:
    with app.app_context():
        home = f.institution("Home Oncology")
        away = f.institution("University Breast Center")
        other = f.institution("Coastal Cancer Institute")
        people = {
            "referrer": f.user(Role.REFERRER, home, name="Dr. Rhea Referrer"),
            "other_referrer": f.user(Role.REFERRER, other),
            "pathologist": f.user(Role.PATHOLOGIST, away, name="Dr. Paula Pathologist"),
            "pathologist2": f.user(Role.PATHOLOGIST, other, name="Dr. Pia Second"),
            "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away, name="Dr. Max Oncologist"),
            "coordinator": f.user(Role.COORDINATOR, away, name="Dr. Cora Coordinator"),
            "admin": f.user(Role.ADMIN, away, name="Ada Admin"),
        }
        ids = {name: person.id for name, person in people.items()}
        db.session.remove()
    yield World(app, ids)


def _draft(world: World, who: str = "referrer", **overrides: Any) -> int:
    def make() -> int:
        data = parse(CaseInput, f.case_body(**overrides))
        return cases.create_draft(world.user(who), data).id

    return world.run(make)  # type: ignore[no-any-return]


def _add_pathology(world: World, case_id: int, who: str = "referrer") -> int:
    def add() -> int:
        record = cases.add_record(
            world.user(who),
            case_id,
            kind="pathology_report",
            filename="pathology.pdf",
            data=f.pdf(),
        )
        return record.id

    return world.run(add)  # type: ignore[no-any-return]


def _routed(world: World, **overrides: Any) -> int:
    """A submitted case routed in-process (the worker's job, tested in tests/e2e)."""
    case_id = _draft(world, **overrides)
    _add_pathology(world, case_id)
    world.run(lambda: cases.submit(world.user("referrer"), case_id))
    world.run(route_case, case_id)
    return case_id


def _assignment_of(world: World, who: str, case_id: int) -> int:
    def find() -> int:
        return db.session.scalar(
            select(Assignment.id).where(
                Assignment.case_id == case_id, Assignment.reviewer_id == world.ids[who]
            )
        )

    return world.run(find)  # type: ignore[no-any-return]


def _status(world: World, case_id: int) -> str:
    return world.run(lambda: db.session.get(Case, case_id).status)  # type: ignore[no-any-return]


def _sign(world: World, who: str, case_id: int, **overrides: Any) -> None:
    assignment_id = _assignment_of(world, who, case_id)
    world.run(
        lambda: reviews.submit_review(
            world.user(who), assignment_id, parse(ReviewInput, f.review_body(**overrides))
        )
    )


CASE_FORM = {
    "patient.name": "Ada Patient",
    "patient.birth_date": "1968-03-14",
    "patient.mrn": "MRN-0001",
    "patient.sex": "female",
    "timepoint": "post_biopsy",
    "question": "Please confirm the grade and receptor status.",
    "requested_specialties": ["medical_oncology"],
    "diagnosis.histologic_type": "invasive_ductal",
    "diagnosis.laterality": "left",
    "diagnosis.grade": "2",
    "diagnosis.er": "positive",
    "diagnosis.pr": "positive",
    "diagnosis.her2": "negative",
    "diagnosis.ki67_percent": "",
    "stage.t": "cT2",
    "stage.n": "cN0",
    "stage.m": "cM0",
    "stage.clinical_prognostic": "IB",
    "plan.neoadjuvant": "false",
    "plan.surgery": "lumpectomy",
    "plan.radiation": "true",
    "plan.endocrine": "letrozole",
    "insurance.insurer": "Acme Health",
    "insurance.second_opinion_covered": "true",
    "insurance.pathology_review_covered": "false",
    "insurance.network_restriction": "true",
}


# --- Each role's main page -------------------------------------------------------------


def test_a_referrer_sees_their_own_cases_with_status_and_due_date(world):
    mine = _routed(world)
    theirs = _draft(
        world,
        "other_referrer",
        patient={
            "name": "Other Patient",
            "birth_date": "1970-01-01",
            "mrn": "MRN-9",
            "sex": "female",
        },
    )
    page = world.client("referrer").get("/cases")
    assert page.status_code == 200
    assert f'href="/cases/{mine}"' in page.text
    assert "In review" in page.text and "Ada Patient" in page.text
    assert f'href="/cases/{theirs}"' not in page.text and "Other Patient" not in page.text


def test_signing_in_takes_each_role_to_its_own_page(world):
    expected = {
        "referrer": "/cases",
        "pathologist": "/assignments",
        "coordinator": "/board",
        "admin": "/admin/accounts",
    }
    for who, home in expected.items():
        response = sign_in(world.app.test_client(), world.email(who))
        assert response.headers["Location"] == home, who


def test_a_reviewer_sees_their_assignments_with_specialty_and_due_date(world):
    case_id = _routed(world)
    page = world.client("pathologist").get("/assignments")
    assert page.status_code == 200
    assignment_id = _assignment_of(world, "pathologist", case_id)
    assert f'href="/assignments/{assignment_id}"' in page.text
    assert "Breast pathology" in page.text and "offered" in page.text
    assert "overdue" not in page.text


def test_an_assignment_past_its_due_time_is_marked_overdue_in_the_inbox(world):
    import datetime as dt

    case_id = _routed(world)
    assignment_id = _assignment_of(world, "pathologist", case_id)

    def backdate() -> None:
        db.session.get(Assignment, assignment_id).due_at = (  # type: ignore[union-attr]
            dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
        )
        db.session.commit()

    world.run(backdate)
    assert 'class="badge overdue"' in world.client("pathologist").get("/assignments").text


def test_the_coordinator_dashboard_counts_every_case_and_puts_unroutable_ones_first(world):
    routed = _routed(world)
    # Nobody on the roster is a plastic surgeon: the case cannot be fully routed.
    stuck = _routed(world, requested_specialties=["plastic_surgery"])
    draft = _draft(world, "other_referrer")
    assert _status(world, stuck) == "unroutable"
    client = world.client("coordinator")
    page = client.get("/board")
    assert page.status_code == 200
    for case_id in (routed, stuck, draft):
        assert f'href="/cases/{case_id}"' in page.text
    unroutable = page.text.split('id="unroutable"')[1].split("</div>")[0]
    assert f"#{stuck}" in unroutable and "Plastic surgery: NOT ROUTED" in unroutable
    assert page.text.index('id="unroutable"') < page.text.index('class="counts"')
    assert "Home Oncology" in page.text and "Coastal Cancer Institute" in page.text

    filtered = client.get("/board?status=draft").text
    table = filtered.split('class="counts"')[1]
    assert f'href="/cases/{draft}"' in table and f'href="/cases/{routed}"' not in table


def test_the_administrator_sees_every_account_with_role_and_institution(world):
    page = world.client("admin").get("/admin/accounts")
    assert page.status_code == 200
    assert "Dr. Paula Pathologist" in page.text and "Breast pathologist" in page.text
    assert "University Breast Center" in page.text and "Tumor-board coordinator" in page.text


def test_the_inbox_lists_notifications_and_marks_one_read(world):
    case_id = _routed(world)
    client = world.client("pathologist")
    page = client.get("/inbox")
    assert page.status_code == 200
    assert f"review case #{case_id}" in page.text and "Mark read" in page.text
    note_id = world.run(
        lambda: db.session.scalar(
            select(Notification.id).where(Notification.user_id == world.ids["pathologist"])
        )
    )
    marked = client.post(f"/inbox/{note_id}/read")
    assert marked.status_code == 302
    assert "Mark read" not in client.get("/inbox").text
    assert world.run(lambda: db.session.get(Notification, note_id).read_at) is not None


# --- The referrer's case form ----------------------------------------------------------


def test_the_new_case_form_offers_every_section_of_the_structured_case(world):
    page = world.client("referrer").get("/cases/new")
    assert page.status_code == 200
    for name in (
        "patient.name",
        "patient.birth_date",
        "patient.mrn",
        "patient.sex",
        "timepoint",
        "question",
        "requested_specialties",
        "diagnosis.histologic_type",
        "diagnosis.her2",
        "stage.t",
        "stage.anatomic",
        "stage.clinical_prognostic",
        "plan.surgery",
        "plan.neoadjuvant",
        "insurance.insurer",
        "insurance.network_restriction",
        "csrf_token",
    ):
        assert f'name="{name}"' in page.text, name


def test_a_referrer_creates_a_draft_from_the_form_with_nested_typed_fields(world):
    response = world.client("referrer").post("/cases/new", data=CASE_FORM)
    assert response.status_code == 303
    case_id = int(response.headers["Location"].rsplit("/", 1)[1])

    def stored() -> Case:
        case = db.session.get(Case, case_id)
        db.session.expunge(case)
        return case

    case = world.run(stored)
    assert case.status == "draft" and case.patient_name == "Ada Patient"
    assert case.requested_specialties == ["medical_oncology"]
    assert case.diagnosis["grade"] == 2 and "ki67_percent" not in case.diagnosis
    assert case.plan == {
        "neoadjuvant": False,
        "surgery": "lumpectomy",
        "radiation": True,
        "endocrine": "letrozole",
    }
    assert case.insurance["network_restriction"] is True
    assert case.insurance["pathology_review_covered"] is False
    assert case.insurance["required_by_insurer"] is False


def test_the_new_case_form_refuses_bad_input_with_a_message_beside_each_field_and_keeps_values(
    world,
):
    form = {
        **CASE_FORM,
        "patient.name": "",
        "patient.birth_date": "14/03/1968",
        "timepoint": "someday",
        "diagnosis.her2": "3+",
    }
    page = world.client("referrer").post("/cases/new", data=form)
    assert page.status_code == 422
    text = page.text
    assert "The case was not saved" in text
    # Each message sits beside its field, and the summary links to the field.
    assert re.search(r'id="err-patient.name">is required<', text)
    assert re.search(r'id="err-patient.birth_date">must be a date written as YYYY-MM-DD', text)
    assert re.search(r'id="err-timepoint">must be one of post_biopsy, pre_surgery', text)
    assert re.search(r'id="err-diagnosis.her2">must be one of positive, equivocal', text)
    assert 'href="#f-patient.birth_date"' in text
    # What was typed is kept, the good and the bad.
    assert 'value="MRN-0001"' in text and 'value="14/03/1968"' in text
    assert "Please confirm the grade and receptor status.</textarea>" in text
    assert '<option value="IB" selected>' in text
    assert 'value="medical_oncology" checked' in text
    assert 'name="insurance.network_restriction" value="true" checked' in text
    assert world.run(lambda: db.session.scalar(select(Case.id))) is None


def test_a_referrer_edits_a_draft_and_the_form_is_filled_with_what_was_saved(world):
    case_id = _draft(world)
    client = world.client("referrer")
    form = client.get(f"/cases/{case_id}/edit").text
    assert 'value="MRN-0001"' in form and '<option value="invasive_ductal" selected>' in form
    response = client.post(
        f"/cases/{case_id}/edit", data={**CASE_FORM, "question": "Is the grade 2 or 3?"}
    )
    assert response.status_code == 303
    assert world.run(lambda: db.session.get(Case, case_id).question) == "Is the grade 2 or 3?"


def test_an_upload_that_is_not_a_pdf_is_refused_with_a_message(world):
    case_id = _draft(world)
    page = world.client("referrer").post(
        f"/cases/{case_id}/records",
        data={"kind": "pathology_report", "file": (io.BytesIO(b"GIF89a not a pdf"), "scan.pdf")},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert re.search(r'id="err-file">is not a PDF', page.text)
    assert "The record was not uploaded" in page.text
    assert world.run(lambda: db.session.scalar(select(Record.id))) is None


def test_a_pdf_upload_is_listed_with_a_download_link_that_returns_the_file(world):
    case_id = _draft(world)
    client = world.client("referrer")
    response = client.post(
        f"/cases/{case_id}/records",
        data={"kind": "pathology_report", "file": (io.BytesIO(f.pdf()), "pathology.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    page = client.get(f"/cases/{case_id}").text
    record_id = world.run(lambda: db.session.scalar(select(Record.id)))
    assert f'href="/records/{record_id}"' in page and "pathology.pdf" in page
    assert "Every record the timepoint requires is here." in page
    download = client.get(f"/records/{record_id}")
    assert download.status_code == 200 and download.data.startswith(b"%PDF-")


def test_submitting_a_case_without_its_required_records_shows_what_is_missing(world):
    case_id = _draft(world, timepoint="post_surgery")
    page = world.client("referrer").post(f"/cases/{case_id}/submit")
    assert page.status_code == 422
    missing = page.text.split('id="missing-on-submit"')[1].split("</div>")[0]
    assert "The case cannot be submitted yet" in missing
    assert "Pathology report is missing" in missing and "Operative report is missing" in missing
    assert _status(world, case_id) == "draft"


def test_a_complete_draft_is_submitted_from_its_page(world):
    case_id = _draft(world)
    _add_pathology(world, case_id)
    client = world.client("referrer")
    response = client.post(f"/cases/{case_id}/submit")
    assert response.status_code == 303
    assert _status(world, case_id) == "submitted"
    page = client.get(f"/cases/{case_id}").text
    assert "is submitted" in page and 'name="file"' not in page


def test_a_referrer_withdraws_a_case_with_a_reason(world):
    case_id = _draft(world)
    client = world.client("referrer")
    client.post(f"/cases/{case_id}/withdraw", data={"reason": ""})
    assert _status(world, case_id) == "draft"
    client.post(f"/cases/{case_id}/withdraw", data={"reason": "The patient chose another centre"})
    assert _status(world, case_id) == "withdrawn"


# --- Who may see what ------------------------------------------------------------------


def _without_csrf(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]*"', "", html)


def test_a_referrer_cannot_open_another_referrers_case(world):
    theirs = _draft(world, "other_referrer")
    record_id = _add_pathology(world, theirs, "other_referrer")
    client = world.client("referrer")
    missing = client.get("/cases/99999")
    for path in (
        f"/cases/{theirs}",
        f"/cases/{theirs}/edit",
        f"/records/{record_id}",
        f"/cases/{theirs}/second-opinion",
        f"/cases/{theirs}/second-opinion.pdf",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        # The same page as a missing id's, but for the sign-out form's CSRF token (signed
        # with the time: two requests a second apart carry different ones).
        assert _without_csrf(response.text) == _without_csrf(missing.text), path
    assert client.post(f"/cases/{theirs}/submit").status_code == 404


def test_a_reviewer_cannot_open_another_reviewers_assignment_or_an_unassigned_case(world):
    case_id = _routed(world)
    unassigned = _draft(world)
    record_id = _add_pathology(world, unassigned)
    medonc_assignment = _assignment_of(world, "medonc", case_id)
    client = world.client("pathologist")
    assert client.get(f"/assignments/{medonc_assignment}").status_code == 404
    assert client.post(f"/assignments/{medonc_assignment}/accept").status_code == 404
    assert (
        client.post(
            f"/assignments/{medonc_assignment}/review", data={"diagnosis.verdict": "concur"}
        ).status_code
        == 404
    )
    assert client.get(f"/cases/{unassigned}").status_code == 404
    assert client.get(f"/records/{record_id}").status_code == 404
    # The case they are assigned opens on their assignment page.
    own = client.get(f"/cases/{case_id}")
    assert own.status_code == 303
    own_assignment = _assignment_of(world, "pathologist", case_id)
    assert own.headers["Location"].endswith(f"/assignments/{own_assignment}")


def test_role_pages_answer_404_to_every_other_role(world):
    referrer, reviewer, coordinator = (
        world.client(w) for w in ("referrer", "pathologist", "coordinator")
    )
    assert reviewer.get("/board").status_code == 404
    assert referrer.get("/board").status_code == 404
    assert referrer.get("/assignments").status_code == 404
    assert coordinator.get("/cases/new").status_code == 404
    assert coordinator.get("/cases").status_code == 404
    assert referrer.get("/admin/accounts").status_code == 404
    assert world.client("admin").get("/cases/1").status_code == 404


def test_a_signed_out_visitor_is_sent_to_sign_in(app):
    response = app.test_client().get("/board")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


# --- The reviewer ----------------------------------------------------------------------


def test_a_reviewer_accepts_and_sees_the_case_with_its_records(world):
    case_id = _routed(world)
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("pathologist")
    page = client.get(f"/assignments/{assignment_id}").text
    assert "This case is offered to you" in page and "Sign the review" not in page
    assert "Please confirm the grade and receptor status." in page
    record_id = world.run(lambda: db.session.scalar(select(Record.id)))
    assert f'href="/records/{record_id}"' in page
    assert client.get(f"/records/{record_id}").data.startswith(b"%PDF-")
    assert client.post(f"/assignments/{assignment_id}/accept").status_code == 303
    page = client.get(f"/assignments/{assignment_id}").text
    assert "Sign the review" in page and 'name="stage.alternative.t"' in page


REVIEW_FORM = {
    "diagnosis.verdict": "concur",
    "diagnosis.rationale": "Agree with the grade.",
    "stage.verdict": "differ",
    "stage.severity": "major",
    "stage.alternative.t": "cT3",
    "stage.alternative.n": "cN1",
    "stage.alternative.m": "cM0",
    "stage.alternative.clinical_prognostic": "IIIA",
    "stage.rationale": "The MRI shows a 5.5 cm mass with an axillary node.",
    "plan.verdict": "differ",
    "plan.severity": "minor",
    "plan.alternative_text": "Add ovarian function suppression.",
    "plan.rationale": "Premenopausal, high risk.",
    "additional_options": "Re-test HER2 by ISH.",
}


def test_the_review_form_signs_once_and_a_second_post_is_refused(world):
    case_id = _routed(world)
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("pathologist")
    client.post(f"/assignments/{assignment_id}/accept")
    signed = client.post(f"/assignments/{assignment_id}/review", data=REVIEW_FORM)
    assert signed.status_code == 303

    def stored() -> dict[str, Any]:
        review = db.session.scalar(select(Review))
        return {v.dimension: (v.verdict, v.severity, v.alternative) for v in review.verdicts} | {
            "signature": review.signature
        }

    review = world.run(stored)
    assert review["diagnosis"] == ("concur", None, None)
    assert review["stage"] == (
        "differ",
        "major",
        {"t": "cT3", "n": "cN1", "m": "cM0", "clinical_prognostic": "IIIA"},
    )
    assert review["plan"] == ("differ", "minor", {"text": "Add ovarian function suppression."})

    page = client.get(f"/assignments/{assignment_id}").text
    assert "Your signed review" in page and review["signature"] in page
    assert "Sign the review" not in page

    again = client.post(
        f"/assignments/{assignment_id}/review", data={**REVIEW_FORM, "stage.verdict": "concur"}
    )
    assert again.status_code == 409
    assert "already has a signed review" in again.text
    assert world.run(lambda: len(db.session.scalars(select(Review)).all())) == 1


def test_a_differ_without_its_detail_is_refused_with_messages_and_the_form_keeps_values(world):
    case_id = _routed(world)
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("pathologist")
    client.post(f"/assignments/{assignment_id}/accept")
    page = client.post(
        f"/assignments/{assignment_id}/review",
        data={
            "diagnosis.verdict": "differ",
            "diagnosis.rationale": "Looks lobular to me.",
            "stage.verdict": "differ",
            "stage.severity": "major",
            "stage.alternative.t": "T9",
            "stage.rationale": "Bigger.",
        },
    )
    assert page.status_code == 422
    assert "The review was not signed" in page.text
    assert "a differ needs a severity" in page.text and "your alternative" in page.text
    assert re.search(
        r'id="err-stage.alternative.t">must be an AJCC 8th edition T category', page.text
    )
    assert re.search(r'id="err-plan.verdict">is required', page.text)
    assert "Looks lobular to me.</textarea>" in page.text and 'value="T9"' in page.text
    assert 'name="stage.severity" value="major" checked' in page.text
    assert world.run(lambda: db.session.scalar(select(Review.id))) is None


def test_reviewers_never_see_a_colleagues_review_before_the_board(world):
    case_id = _routed(world, requested_specialties=["medical_oncology"])
    _sign(
        world,
        "pathologist",
        case_id,
        stage={
            "verdict": "differ",
            "severity": "major",
            "alternative": {"t": "cT3"},
            "rationale": "A secret only the board may read.",
        },
    )
    medonc = world.client("medonc")
    page = medonc.get(f"/assignments/{_assignment_of(world, 'medonc', case_id)}").text
    assert "A secret only the board may read." not in page
    referrer_page = world.client("referrer").get(f"/cases/{case_id}").text
    assert "A secret only the board may read." not in referrer_page
    coordinator_page = world.client("coordinator").get(f"/cases/{case_id}").text
    assert "A secret only the board may read." in coordinator_page


def test_a_reviewer_declines_with_a_reason_and_loses_sight_of_the_case(world):
    case_id = _routed(world)
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("pathologist")
    refused = client.post(f"/assignments/{assignment_id}/decline", data={"reason": " "})
    assert refused.status_code == 422
    assert re.search(r'id="err-reason">is required', refused.text)
    declined = client.post(
        f"/assignments/{assignment_id}/decline", data={"reason": "I reported the original slides."}
    )
    assert declined.status_code == 303 and declined.headers["Location"].endswith("/assignments")
    assert client.get(f"/assignments/{assignment_id}").status_code == 404
    assert client.get(f"/cases/{case_id}").status_code == 404
    inbox = client.get("/assignments").text
    assert "Declined or reassigned" in inbox and "I reported the original slides." in inbox


# --- The coordinator -------------------------------------------------------------------


def test_the_coordinator_sees_routing_reasons_and_reassigns_to_a_chosen_reviewer(world):
    case_id = _routed(world)
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("coordinator")
    page = client.get(f"/cases/{case_id}").text
    assert "least loaded of" in page  # the routing policy's reason, in words
    assert f'href="/cases/{case_id}/staffing#assignment-{assignment_id}">Reassign…' in page
    staffing = client.get(f"/cases/{case_id}/staffing").text
    assert f'action="/assignments/{assignment_id}/reassign"' in staffing
    assert f'<option value="{world.ids["pathologist2"]}">Dr. Pia Second' in staffing
    response = client.post(
        f"/assignments/{assignment_id}/reassign",
        data={"reviewer_id": str(world.ids["pathologist2"]), "case_id": str(case_id)},
    )
    assert response.status_code == 303
    assert _assignment_of(world, "pathologist2", case_id) is not None
    statuses = world.run(
        lambda: {a.reviewer_id: a.status for a in db.session.scalars(select(Assignment))}
    )
    assert statuses == {
        world.ids["pathologist"]: "reassigned",
        world.ids["pathologist2"]: "offered",
    }
    assert world.client("pathologist").get(f"/assignments/{assignment_id}").status_code == 404


def test_the_coordinator_assigns_a_reviewer_by_hand_for_an_unroutable_specialty(world):
    case_id = _routed(world, requested_specialties=["medical_oncology", "plastic_surgery"])
    assert _status(world, case_id) == "unroutable"
    client = world.client("coordinator")
    page = client.get(f"/cases/{case_id}").text
    gaps = page.split('id="unroutable"')[1].split("</div>")[0]
    assert "Not covered yet: plastic surgery" in gaps
    # Why, and whom to assign, on the case's reviewers page.
    staffing = client.get(f"/cases/{case_id}/staffing").text
    gaps = staffing.split('id="unroutable"')[1].split("</div>")[0]
    assert "Plastic surgery: no reviewer of this specialty on the roster" in gaps
    refused = client.post(f"/cases/{case_id}/assignments", data={"reviewer_id": "abc"})
    assert refused.status_code == 303
    assert "is not a reviewer on the roster" in client.get(f"/cases/{case_id}").text

    plastic = world.run(lambda: f.user(Role.PLASTIC_SURGEON, f.institution("Plastics Inc")).id)
    assigned = client.post(f"/cases/{case_id}/assignments", data={"reviewer_id": str(plastic)})
    assert assigned.status_code == 303
    assert _status(world, case_id) == "in_review"
    assert 'id="unroutable"' not in client.get(f"/cases/{case_id}").text


def test_the_coordinator_records_consensus_releases_and_the_referrer_acknowledges(world):
    case_id = _routed(world)
    _sign(
        world,
        "pathologist",
        case_id,
        stage={
            "verdict": "differ",
            "severity": "major",
            "alternative": {"t": "cT3", "n": "cN1"},
            "rationale": "The MRI shows a 5.5 cm mass.",
        },
    )
    assert _status(world, case_id) == "ready_for_board"
    coordinator = world.client("coordinator")
    page = coordinator.get(f"/cases/{case_id}").text
    assert "Record the board" in page and "The MRI shows a 5.5 cm mass." in page
    assert "Release the second opinion" not in page

    refused = coordinator.post(
        f"/cases/{case_id}/consensus",
        data={"summary": "", "stage.t": "T9", "recommendations": "Neoadjuvant chemotherapy."},
    )
    assert refused.status_code == 422
    assert re.search(r'id="err-summary">is required', refused.text)
    assert re.search(r'id="err-stage.t">must be an AJCC 8th edition T category', refused.text)
    assert "Neoadjuvant chemotherapy.</textarea>" in refused.text

    # Before release the referrer sees neither the consensus nor the second opinion.
    referrer = world.client("referrer")
    assert referrer.get(f"/cases/{case_id}/second-opinion").status_code == 404

    signed = coordinator.post(
        f"/cases/{case_id}/consensus",
        data={
            "summary": "Upstage to cT3 cN1; neoadjuvant therapy first.",
            "recommendations": "Neoadjuvant chemotherapy.",
            "stage.t": "cT3",
            "stage.n": "cN1",
            "plan.neoadjuvant": "true",
        },
    )
    assert signed.status_code == 303
    consensus = world.run(
        lambda: (lambda c: (c.stage, c.plan, c.diagnosis))(db.session.scalar(select(Consensus)))
    )
    assert consensus == ({"t": "cT3", "n": "cN1"}, {"neoadjuvant": True}, None)
    page = coordinator.get(f"/cases/{case_id}").text
    assert "Release the second opinion to the referrer" in page
    assert coordinator.get(f"/cases/{case_id}/second-opinion").status_code == 200
    assert referrer.get(f"/cases/{case_id}/second-opinion").status_code == 404

    assert coordinator.post(f"/cases/{case_id}/release").status_code == 303
    assert _status(world, case_id) == "reported"

    case_page = referrer.get(f"/cases/{case_id}").text
    assert f'href="/cases/{case_id}/second-opinion"' in case_page
    opinion = referrer.get(f"/cases/{case_id}/second-opinion")
    assert opinion.status_code == 200
    assert "Upstage to cT3 cN1" in opinion.text and "The MRI shows a 5.5 cm mass." in opinion.text
    assert "Acknowledge" in opinion.text
    pdf = referrer.get(f"/cases/{case_id}/second-opinion.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    acknowledged = referrer.post(f"/cases/{case_id}/acknowledge")
    assert acknowledged.status_code == 303
    assert _status(world, case_id) == "acknowledged"
    assert "Acknowledged" in referrer.get(f"/cases/{case_id}/second-opinion").text


# --- Cross-site request forgery --------------------------------------------------------


def test_a_form_post_without_the_csrf_token_is_refused(app, world):
    from board import create_app

    protected = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": True,
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "CELERY": {"broker_url": REDIS_URL},
            "MAIL_PORT": 1,
        }
    )
    # create_app makes its Celery app the default; give the shared app its own back.
    app.extensions["celery"].set_default()
    client = protected.test_client()
    login_page = client.get("/login").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', login_page).group(1)
    assert (
        client.post(
            "/login", data={"email": world.email("referrer"), "password": f.PASSWORD}
        ).status_code
        == 400
    )
    assert token
    signed_in = sign_in(client, world.email("referrer"), csrf=True)
    assert signed_in.status_code == 302

    forged = client.post("/cases/new", data=CASE_FORM)
    assert forged.status_code == 400
    assert "CSRF" in forged.text
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/cases/new").text)
    created = client.post("/cases/new", data={**CASE_FORM, "csrf_token": form_token.group(1)})
    assert created.status_code == 303
    with protected.app_context():
        assert len(db.session.scalars(select(Case)).all()) == 1
        db.session.remove()
