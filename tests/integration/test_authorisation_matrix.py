"""The authorisation matrix: every URL rule of the app x every role, against a seeded
world with real ids, compared with the expectation table below (issue 6, "Done when").

HOW TO READ AND EXTEND THE TABLE
-------------------------------
`MATRIX` holds one `Row` per URL rule (every rule in `app.url_map`, `/static` too):

    Row(rule, methods, allow, ids=..., body=..., expect=...)

- `rule`: the rule exactly as Flask prints it ("/cases/<int:case_id>").
- `methods`: the methods the row covers ("GET", "POST", "GET POST"); together the rows
  must cover every method of every rule (HEAD and OPTIONS aside), or the test fails.
- `allow`: the roles that get through: a set of role names (the columns, `ROLES`), or
  `PUBLIC` (everyone, anonymous too) or `SIGNED_IN` (every role but anonymous).
- every other role gets `404` (a role-only action, or an object the user may not know
  exists, looks like a missing id); anonymous gets `login` (a page: a redirect to the
  sign-in page) or `401` (the API). `expect={"role": "403"}` overrides one cell.
- `ids`: which seeded object each id of the rule names, when not the default
  (`DEFAULT_IDS`: case_id -> the routed case in review, record_id -> its record, ...).
- `body`: what to send: a dict is sent as JSON to /api and as a form to pages; a
  callable gets the `Seeded` world and returns such a dict (for ids in bodies).

The status classes compared: `ok` (2xx, 3xx other than to the sign-in page, 409 and 422:
the request got past authorisation and met the object's state or its validation),
`login` (login_required's redirect to the sign-in page, `?next=`), `401`, `403`,
`404`, and `5xx` (never expected). A new route cannot land without its row:
`test_every_rule_and_method_has_a_row` fails first.

The world is rebuilt (a database snapshot restored, ids unchanged) after every request
that got through and may have changed something, so the cells do not depend on order.

The IDOR sweep (`test_idor_sweep`) is derived from the same table: for every rule with
an id, each user the row allows is paired with another user of the same role (`PEER`),
who must get a 404 with the very body a missing id gets.
"""

from __future__ import annotations

import datetime as dt
import io
import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from board.auth.models import AvailabilityWindow, User
from board.auth.roles import Role
from board.board_meetings.models import FollowUpQuestion
from board.cases.models import Record, RecordRequest
from board.extensions import db
from board.notifications.models import Notification
from board.reviews.models import Assignment
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api
from tests.support.services import truncate
from tests.web.test_pages import World

# --- The columns ----------------------------------------------------------------------

ROLES = (
    "anonymous",
    "referrer",  # submitted every seeded case
    "other_referrer",  # another institution
    "pathologist",  # assigned to the seeded cases
    "medonc",  # assigned to the seeded cases (medical oncology)
    "pathologist_b",  # same specialty, not assigned (owns a time away)
    "medonc_b",  # same specialty, not assigned
    "surgeon",  # the other specialties, none assigned
    "radonc",
    "radiologist",
    "plastic",
    "coordinator",
    "admin",
)
REVIEWERS = frozenset(
    {
        "pathologist",
        "medonc",
        "pathologist_b",
        "medonc_b",
        "surgeon",
        "radonc",
        "radiologist",
        "plastic",
    }
)
PUBLIC = frozenset(ROLES)
SIGNED_IN = frozenset(ROLES) - {"anonymous"}
REFERRERS = frozenset({"referrer", "other_referrer"})
# Who sees the seeded cases: the referrer, the assigned reviewers, the coordinator.
CASE_VIEWERS = frozenset({"referrer", "pathologist", "medonc", "coordinator"})
OPINION_READERS = frozenset({"referrer", "coordinator"})  # the released second opinion
COORDINATOR = frozenset({"coordinator"})
REFERRER = frozenset({"referrer"})
ADMIN = frozenset({"admin"})

# Another user of the same role, for the IDOR sweep.
PEER = {
    "referrer": "other_referrer",
    "other_referrer": "referrer",
    "pathologist": "pathologist_b",
    "pathologist_b": "pathologist",
    "medonc": "medonc_b",
    "medonc_b": "medonc",
}

DEFAULT_IDS = {
    "case_id": "case",
    "record_id": "record",
    "assignment_id": "assignment",
    "request_id": "record_request",
    "meeting_id": "meeting",
    "question_id": "question",
    "window_id": "window",
    "notification_id": "notification",
    "institution_id": "institution",
    "user_id": "surgeon",
}

MONDAY = dt.datetime(2030, 12, 2, 16, 0, tzinfo=dt.UTC)
Body = dict[str, Any] | Callable[["Seeded"], dict[str, Any]] | None


@dataclass(frozen=True)
class Row:
    rule: str
    methods: str
    allow: frozenset[str]
    ids: dict[str, str] = field(default_factory=dict)
    body: Body = None
    expect: dict[str, str] = field(default_factory=dict)
    # Signs in afresh for each request (logout ends the session it is sent with).
    fresh_login: bool = False

    def expected(self, role: str) -> str:
        if role in self.expect:
            return self.expect[role]
        if role in self.allow:
            return "ok"
        if role == "anonymous":
            return "401" if self.rule.startswith("/api/") else "login"
        return "404"


DRAFT = {"case_id": "draft", "record_id": "draft_record"}
RELEASED = {"case_id": "released"}
AWAITING = {"case_id": "awaiting", "request_id": "record_request"}


_unknown_accounts = itertools.count()


def _nobody() -> dict[str, str]:
    """A failed sign-in of an account that does not exist, a new one each time: the
    throttle allows 5 failures per account (board/auth/throttle.py), the table sends 13."""
    email = f"nobody{next(_unknown_accounts)}@example.test"
    return {"email": email, "username": email, "password": "not a password"}


def _pdf_upload(_: Seeded) -> dict[str, Any]:
    return {"kind": "pathology_report", "file": (io.BytesIO(f.pdf()), "pathology.pdf")}


# --- The expectation table: one row per rule ------------------------------------------

MATRIX: list[Row] = [
    # Public and sign-in
    Row("/", "GET", PUBLIC),  # a redirect: home for a role, the sign-in page for anonymous
    Row("/login", "GET", PUBLIC),
    Row("/login", "POST", PUBLIC, body=lambda _: _nobody(), expect={r: "401" for r in ROLES}),
    Row("/logout", "POST", SIGNED_IN, fresh_login=True),
    # The second factor's steps: without a password step just passed, back to /login.
    Row("/login/code", "GET POST", PUBLIC),
    Row("/login/enrol", "GET POST", PUBLIC),
    Row("/static/<path:filename>", "GET", PUBLIC),
    Row("/api/v1/openapi.json", "GET", PUBLIC),
    Row("/api/v1/health", "GET", PUBLIC),
    Row("/api/v1/staging", "GET", PUBLIC),
    Row(
        "/api/v1/auth/token",
        "POST",
        PUBLIC,
        body=lambda _: _nobody(),
        expect={r: "401" for r in ROLES},
    ),
    Row("/inbox", "GET", SIGNED_IN),
    Row("/inbox/<int:notification_id>/read", "POST", REFERRER),
    # Administrator
    Row("/admin/accounts", "GET", ADMIN),
    Row("/admin/accounts/<int:user_id>/role", "POST", ADMIN, body={"role": "coordinator"}),
    Row("/admin/accounts/<int:user_id>/reset-mfa", "POST", ADMIN),
    Row("/users/<int:user_id>/audit", "GET", COORDINATOR | ADMIN),
    Row("/users/<int:user_id>/audit.csv", "GET", COORDINATOR | ADMIN),
    Row("/account/password", "GET POST", SIGNED_IN),
    Row("/admin/institutions/<int:institution_id>/practice-sharing", "POST", ADMIN),
    Row(
        "/api/v1/institutions/<int:institution_id>/practice-sharing",
        "POST",
        ADMIN,
        body={"share": True},
    ),
    Row("/analytics", "GET", COORDINATOR | ADMIN),
    Row("/analytics.csv", "GET", COORDINATOR | ADMIN),
    Row("/api/v1/analytics", "GET", COORDINATOR | ADMIN),
    # Cases: pages
    Row("/board", "GET", COORDINATOR),
    Row("/cases", "GET", REFERRERS),
    Row("/cases/new", "GET POST", REFERRERS),
    Row("/cases/<int:case_id>", "GET", CASE_VIEWERS),
    Row("/cases/<int:case_id>/staffing", "GET", COORDINATOR),
    Row("/cases/<int:case_id>/edit", "GET POST", REFERRER, ids=DRAFT),
    Row("/cases/<int:case_id>/records", "POST", REFERRER, ids=DRAFT, body=_pdf_upload),
    Row("/cases/<int:case_id>/records/<int:record_id>/delete", "POST", REFERRER, ids=DRAFT),
    Row("/cases/<int:case_id>/submit", "POST", REFERRER, ids=DRAFT),
    Row("/cases/<int:case_id>/withdraw", "POST", REFERRER | COORDINATOR),
    Row("/cases/<int:case_id>/restricted", "POST", REFERRER, body={"restricted": "true"}),
    Row("/cases/<int:case_id>/break-glass", "GET POST", COORDINATOR),
    Row(
        "/cases/<int:case_id>/record-requests/<int:request_id>/answer",
        "POST",
        REFERRER,
        ids=AWAITING,
    ),
    Row("/records/<int:record_id>", "GET", CASE_VIEWERS),
    Row("/cases/<int:case_id>/specialties", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/urgency", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/auto-reassign", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/tie-breaks", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/assignments", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/consensus", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/release", "POST", COORDINATOR),
    Row("/cases/<int:case_id>/second-opinion", "GET", OPINION_READERS, ids=RELEASED),
    Row("/cases/<int:case_id>/second-opinion.pdf", "GET", OPINION_READERS, ids=RELEASED),
    Row("/cases/<int:case_id>/acknowledge", "POST", REFERRER, ids=RELEASED),
    Row(
        "/cases/<int:case_id>/follow-ups",
        "POST",
        REFERRER,
        ids=RELEASED,
        body={"question": "Would you repeat the HER2 test?"},
    ),
    Row(
        "/cases/<int:case_id>/implementation",
        "POST",
        REFERRER,
        ids=RELEASED,
        body={"implementation": "fully"},
    ),
    Row("/cases/<int:case_id>/audit", "GET", COORDINATOR | ADMIN),
    Row("/cases/<int:case_id>/audit.csv", "GET", COORDINATOR | ADMIN),
    # Meetings (the coordinator's board)
    Row("/meetings", "GET POST", COORDINATOR),
    Row("/follow-ups", "GET", COORDINATOR),
    Row("/meetings/<int:meeting_id>", "GET", COORDINATOR),
    Row("/meetings/<int:meeting_id>/move", "POST", COORDINATOR),
    Row("/meetings/<int:meeting_id>/cancel", "POST", COORDINATOR),
    Row("/meetings/<int:meeting_id>/attendance", "POST", COORDINATOR),
    Row("/meetings/<int:meeting_id>/agenda", "POST", COORDINATOR),
    Row("/meetings/<int:meeting_id>/agenda/order", "POST", COORDINATOR),
    Row("/meetings/<int:meeting_id>/agenda/<int:case_id>/move", "POST", COORDINATOR, ids=RELEASED),
    Row(
        "/meetings/<int:meeting_id>/agenda/<int:case_id>/remove", "POST", COORDINATOR, ids=RELEASED
    ),
    Row("/follow-ups/<int:question_id>/answer", "POST", COORDINATOR, body={"answer": "Yes."}),
    # Reviewers: pages
    Row("/assignments", "GET", REVIEWERS),
    Row("/assignments/<int:assignment_id>", "GET", frozenset({"pathologist"})),
    Row("/assignments/<int:assignment_id>/accept", "POST", frozenset({"pathologist"})),
    Row("/assignments/<int:assignment_id>/decline", "POST", frozenset({"pathologist"})),
    Row("/assignments/<int:assignment_id>/review", "POST", frozenset({"pathologist"})),
    Row("/assignments/<int:assignment_id>/records-request", "POST", frozenset({"pathologist"})),
    Row("/assignments/<int:assignment_id>/reassign", "POST", COORDINATOR),
    Row("/availability", "GET POST", REVIEWERS),
    Row("/availability/<int:window_id>/delete", "POST", frozenset({"pathologist_b"})),
    # The API
    Row("/api/v1/cases", "GET", SIGNED_IN - {"anonymous"}),
    Row("/api/v1/cases", "POST", REFERRERS, body=lambda _: f.case_body()),
    Row("/api/v1/cases/<int:case_id>", "GET", CASE_VIEWERS),
    Row("/api/v1/cases/<int:case_id>", "PUT", REFERRER, ids=DRAFT, body=lambda _: f.case_body()),
    Row("/api/v1/cases/<int:case_id>/records", "POST", REFERRER, ids=DRAFT, body=_pdf_upload),
    Row("/api/v1/records/<int:record_id>", "GET", CASE_VIEWERS),
    Row("/api/v1/cases/<int:case_id>/submit", "POST", REFERRER, ids=DRAFT),
    Row(
        "/api/v1/cases/<int:case_id>/withdraw",
        "POST",
        REFERRER | COORDINATOR,
        body={"reason": "The patient chose another centre."},
    ),
    Row("/api/v1/cases/<int:case_id>/restricted", "POST", REFERRER, body={"restricted": True}),
    Row(
        "/api/v1/cases/<int:case_id>/break-glass",
        "POST",
        COORDINATOR,
        body={"reason": "Covering the tumor board while the usual lead is away"},
    ),
    Row(
        "/api/v1/cases/<int:case_id>/specialties",
        "POST",
        COORDINATOR,
        body={"add": ["breast_surgery"], "remove": []},
    ),
    Row("/api/v1/cases/<int:case_id>/urgency", "POST", COORDINATOR, body={"urgent": True}),
    Row("/api/v1/cases/<int:case_id>/auto-reassign", "POST", COORDINATOR, body={"on": True}),
    Row(
        "/api/v1/cases/<int:case_id>/tie-breaks",
        "POST",
        COORDINATOR,
        body={"specialty": "pathology", "dimension": "diagnosis"},
    ),
    Row(
        "/api/v1/cases/<int:case_id>/assignments",
        "POST",
        COORDINATOR,
        body=lambda w: {"reviewer_id": w.ids["surgeon"]},
    ),
    Row(
        "/api/v1/cases/<int:case_id>/consensus",
        "POST",
        COORDINATOR,
        body={"summary": "The board concurs."},
    ),
    Row("/api/v1/cases/<int:case_id>/release", "POST", COORDINATOR),
    Row("/api/v1/cases/<int:case_id>/second-opinion.pdf", "GET", OPINION_READERS, ids=RELEASED),
    Row("/api/v1/cases/<int:case_id>/fhir", "GET", OPINION_READERS, ids=RELEASED),
    Row(
        "/api/v1/cases/import/fhir",
        "POST",
        REFERRERS,
        body={"resourceType": "Bundle", "type": "collection", "entry": []},
    ),
    Row("/api/v1/cases/<int:case_id>/acknowledge", "POST", REFERRER, ids=RELEASED),
    Row(
        "/api/v1/cases/<int:case_id>/follow-ups",
        "POST",
        REFERRER,
        ids=RELEASED,
        body={"question": "Would you repeat the HER2 test?"},
    ),
    Row(
        "/api/v1/cases/<int:case_id>/implementation",
        "POST",
        REFERRER,
        ids=RELEASED,
        body={"implementation": "fully"},
    ),
    Row(
        "/api/v1/follow-ups/<int:question_id>/answer",
        "POST",
        COORDINATOR,
        body={"answer": "Yes, by ISH."},
    ),
    Row(
        "/api/v1/record-requests/<int:request_id>/answer",
        "POST",
        REFERRER,
        body={"answer": "No MRI was done."},
    ),
    Row("/api/v1/assignments", "GET", SIGNED_IN),
    Row("/api/v1/assignments/<int:assignment_id>/accept", "POST", frozenset({"pathologist"})),
    Row(
        "/api/v1/assignments/<int:assignment_id>/decline",
        "POST",
        frozenset({"pathologist"}),
        body={"reason": "On leave"},
    ),
    Row(
        "/api/v1/assignments/<int:assignment_id>/review",
        "POST",
        frozenset({"pathologist"}),
        body=lambda _: f.review_body(),
    ),
    Row(
        "/api/v1/assignments/<int:assignment_id>/records-request",
        "POST",
        frozenset({"pathologist"}),
        body={"kinds": ["imaging_report"], "message": "Please send the breast MRI report."},
    ),
    Row("/api/v1/assignments/<int:assignment_id>/reassign", "POST", COORDINATOR, body={}),
    Row("/api/v1/availability", "GET", REVIEWERS),
    Row(
        "/api/v1/availability",
        "POST",
        REVIEWERS,
        body={"starts_at": "2030-01-07T00:00:00Z", "ends_at": "2030-01-14T00:00:00Z"},
    ),
    Row("/api/v1/availability/<int:window_id>", "DELETE", frozenset({"pathologist_b"})),
    Row("/api/v1/meetings", "GET", COORDINATOR),
    Row(
        "/api/v1/meetings",
        "POST",
        COORDINATOR,
        body={"starts_at": MONDAY.isoformat(), "place": "Room 4"},
    ),
    Row(
        "/api/v1/meetings/<int:meeting_id>/move",
        "POST",
        COORDINATOR,
        body={"starts_at": (MONDAY + dt.timedelta(days=1)).isoformat()},
    ),
    Row("/api/v1/meetings/<int:meeting_id>/cancel", "POST", COORDINATOR),
    Row(
        "/api/v1/meetings/<int:meeting_id>/attendance",
        "POST",
        COORDINATOR,
        body=lambda w: {"user_ids": [w.ids["pathologist"]]},
    ),
    Row(
        "/api/v1/meetings/<int:meeting_id>/agenda",
        "POST",
        COORDINATOR,
        body=lambda w: {"case_id": w.objects["released"]},
    ),
    Row(
        "/api/v1/meetings/<int:meeting_id>/agenda/<int:case_id>",
        "DELETE",
        COORDINATOR,
        ids=RELEASED,
    ),
    Row(
        "/api/v1/meetings/<int:meeting_id>/agenda/reorder",
        "POST",
        COORDINATOR,
        body=lambda w: {"case_ids": [w.objects["released"]]},
    ),
]


# --- The seeded world -----------------------------------------------------------------


@dataclass
class Seeded:
    """Accounts, signed-in clients and the objects every id of the table names."""

    app: Flask
    ids: dict[str, int]  # accounts by column name
    objects: dict[str, int]  # seeded objects by name
    clients: dict[str, FlaskClient]
    tokens: dict[str, dict[str, str]]

    def path(self, rule: str, ids: dict[str, str]) -> str:
        def value(match: re.Match[str]) -> str:
            converter, name = match.group(1), match.group(2)
            if converter == "path":
                return "board.css"
            return str(self.objects[ids.get(name, DEFAULT_IDS[name])])

        return re.sub(r"<(?:(\w+):)?(\w+)>", value, rule)

    def missing_path(self, rule: str, ids: dict[str, str]) -> str:
        """The same path with every id replaced by one that does not exist."""
        return re.sub(r"<int:\w+>", "999999", rule)


def _seed(app: Flask) -> tuple[dict[str, int], dict[str, int]]:
    home, away, other = (
        f.institution("Home Oncology"),
        f.institution("University Breast Center"),
        f.institution("Coastal Cancer Institute"),
    )
    roles = {
        "referrer": (Role.REFERRER, home),
        "other_referrer": (Role.REFERRER, other),
        "pathologist": (Role.PATHOLOGIST, away),
        "medonc": (Role.MEDICAL_ONCOLOGIST, away),
        "pathologist_b": (Role.PATHOLOGIST, other),
        "medonc_b": (Role.MEDICAL_ONCOLOGIST, other),
        "surgeon": (Role.BREAST_SURGEON, away),
        "radonc": (Role.RADIATION_ONCOLOGIST, away),
        "radiologist": (Role.BREAST_RADIOLOGIST, away),
        "plastic": (Role.PLASTIC_SURGEON, away),
        "coordinator": (Role.COORDINATOR, away),
        "admin": (Role.ADMIN, away),
    }
    ids = {name: f.user(role, inst).id for name, (role, inst) in roles.items()}
    # The second reader of each specialty is away while the world is routed, so the
    # first is the one assigned (and the one with a time away to delete).
    for name in ("pathologist_b", "medonc_b"):
        db.session.add(
            AvailabilityWindow(
                user_id=ids[name],
                starts_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
                ends_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=30),
            )
        )
    db.session.commit()
    window = db.session.scalar(
        select(AvailabilityWindow.id).where(AvailabilityWindow.user_id == ids["pathologist_b"])
    )
    assert window is not None
    objects: dict[str, int] = {"window": window, "institution": home.id, "surgeon": ids["surgeon"]}
    client = app.test_client()
    api = {
        n: Api(client, db.session.get(User, ids[n]).email)  # type: ignore[union-attr]
        for n in ("referrer", "pathologist", "medonc", "coordinator")
    }

    def routed() -> tuple[int, int]:
        body = f.case_body(requested_specialties=["medical_oncology"])
        case_id = api["referrer"].post("/cases", body).get_json()["id"]
        record = api["referrer"].upload(case_id, "pathology_report", f.pdf()).get_json()["id"]
        assert api["referrer"].post(f"/cases/{case_id}/submit").status_code == 202
        route_case(case_id)
        return case_id, record

    def assignment_of(who: str, case_id: int) -> int:
        found = db.session.scalar(
            select(Assignment.id).where(
                Assignment.case_id == case_id, Assignment.reviewer_id == ids[who]
            )
        )
        assert found is not None, f"{who} was not assigned case {case_id}"
        return found

    objects["case"], objects["record"] = routed()
    objects["assignment"] = assignment_of("pathologist", objects["case"])
    assignment_of("medonc", objects["case"])

    draft = api["referrer"].post("/cases", f.case_body()).get_json()["id"]
    objects["draft"] = draft
    objects["draft_record"] = (
        api["referrer"].upload(draft, "pathology_report", f.pdf()).get_json()["id"]
    )

    objects["awaiting"], _ = routed()
    asked = api["medonc"].post(
        f"/assignments/{assignment_of('medonc', objects['awaiting'])}/records-request",
        {"kinds": ["imaging_report"], "message": "Please send the breast MRI report."},
    )
    assert asked.status_code == 201, asked.get_json()
    objects["record_request"] = asked.get_json()["id"]

    released, _ = routed()
    objects["released"] = released
    for who in ("pathologist", "medonc"):
        signed = api[who].post(
            f"/assignments/{assignment_of(who, released)}/review", f.review_body()
        )
        assert signed.status_code == 201, signed.get_json()
    meeting = api["coordinator"].post(
        "/meetings", {"starts_at": MONDAY.isoformat(), "place": "Room 4"}
    )
    objects["meeting"] = meeting.get_json()[0]["id"]
    on_agenda = api["coordinator"].post(
        f"/meetings/{objects['meeting']}/agenda", {"case_id": released}
    )
    assert on_agenda.status_code == 201, on_agenda.get_json()
    agreed = api["coordinator"].post(
        f"/cases/{released}/consensus", {"summary": "The board concurs."}
    )
    assert agreed.status_code == 201, agreed.get_json()
    assert api["coordinator"].post(f"/cases/{released}/release").status_code == 200
    asked = api["referrer"].post(
        f"/cases/{released}/follow-ups", {"question": "Would you repeat the HER2 test?"}
    )
    assert asked.status_code == 201, asked.get_json()
    objects["question"] = db.session.scalar(select(FollowUpQuestion.id))
    objects["notification"] = db.session.scalar(
        select(Notification.id).where(Notification.user_id == ids["referrer"])
    )
    assert all(objects.values()), objects
    assert db.session.get(Record, objects["record"]) is not None
    assert db.session.get(RecordRequest, objects["record_request"]) is not None
    return ids, objects


_SNAPSHOT = "authz_matrix_snapshot"


def _snapshot() -> None:
    with db.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {_SNAPSHOT} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {_SNAPSHOT}"))
        for table in db.metadata.sorted_tables:
            conn.execute(
                text(f'CREATE TABLE {_SNAPSHOT}."{table.name}" AS TABLE public."{table.name}"')
            )


def _restore(app: Flask) -> None:
    """Back to the seeded world. Identity sequences are not reset, so seeded ids stay
    and rows a request added are gone."""
    with app.app_context():
        db.session.remove()
        tables = db.metadata.sorted_tables
        with db.engine.begin() as conn:
            truncate(conn, [t.name for t in tables], restart_identity=False)
            for table in tables:
                copy = f'INSERT INTO public."{table.name}" SELECT * FROM {_SNAPSHOT}."{table.name}"'
                conn.execute(text(copy))


@pytest.fixture
def seeded(app: Flask) -> Iterator[Seeded]:
    with app.app_context():
        ids, objects = _seed(app)
        db.session.remove()
    world = World(app, ids)
    clients = {"anonymous": app.test_client()}
    tokens: dict[str, dict[str, str]] = {"anonymous": {}}
    for name in ids:
        clients[name] = world.client(name)
        tokens[name] = Api(app.test_client(), world.email(name)).headers
    with app.app_context():
        _snapshot()
    yield Seeded(app, ids, objects, clients, tokens)
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {_SNAPSHOT} CASCADE"))


# --- Asking -----------------------------------------------------------------------------


def status_class(response: Any) -> str:
    code = response.status_code
    if code >= 500:
        return "5xx"
    if code in (401, 403, 404):
        return str(code)
    location = response.headers.get("Location", "")
    if 300 <= code < 400 and "/login" in location and "next=" in location:
        return "login"  # login_required sends the visitor to sign in and back
    if 200 <= code < 400 or code in (409, 422):
        return "ok"
    return str(code)


def send(seeded: Seeded, row: Row, method: str, role: str, path: str) -> Any:
    api = row.rule.startswith("/api/")
    body = row.body(seeded) if callable(row.body) else row.body
    client = seeded.clients[role]
    if row.fresh_login:
        client = (
            World(seeded.app, seeded.ids).client(role)
            if role != "anonymous"
            else seeded.app.test_client()
        )
    kwargs: dict[str, Any] = {}
    if api:
        kwargs["headers"] = seeded.tokens[role]
        files = body and any(isinstance(v, tuple) for v in body.values())
        if files:
            kwargs.update(data=body, content_type="multipart/form-data")
        elif method in ("POST", "PUT"):
            kwargs["json"] = body if body is not None else {}
    elif body is not None:
        kwargs["data"] = body
    return client.open(path, method=method, **kwargs)


def _rules(app: Flask) -> set[tuple[str, str]]:
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def _table() -> dict[tuple[str, str], Row]:
    table: dict[tuple[str, str], Row] = {}
    for row in MATRIX:
        for method in row.methods.split():
            assert (row.rule, method) not in table, f"two rows for {method} {row.rule}"
            table[(row.rule, method)] = row
    return table


def _body(response: Any) -> bytes:
    # A page's CSRF token is signed with the time; everything else must be identical.
    return re.sub(rb'name="csrf_token" value="[^"]*"', b"", response.data)


def _changes_state(method: str, got: str) -> bool:
    return method not in ("GET", "HEAD") and got == "ok"


# --- The tests --------------------------------------------------------------------------


def test_every_rule_and_method_has_a_row(app):
    table = _table()
    missing = sorted(_rules(app) - set(table))
    stale = sorted(set(table) - _rules(app))
    assert not missing, "URL rules without a row in MATRIX (add one per rule):\n" + "\n".join(
        f"  {m} {r}" for r, m in missing
    )
    assert not stale, "MATRIX rows for rules the app does not have:\n" + "\n".join(
        f"  {m} {r}" for r, m in stale
    )


def test_every_rule_answers_each_role_as_the_table_says(seeded):
    mismatches = []
    for (rule, method), row in sorted(_table().items()):
        path = seeded.path(rule, row.ids)
        for role in ROLES:
            response = send(seeded, row, method, role, path)
            got, want = status_class(response), row.expected(role)
            if got != want:
                mismatches.append(
                    f"{method} {rule} as {role}: expected {want}, got {got} "
                    f"({response.status_code})"
                )
            if _changes_state(method, got):
                _restore(seeded.app)
    assert not mismatches, f"{len(mismatches)} cells differ:\n" + "\n".join(mismatches)


def test_idor_sweep_another_user_of_the_same_role_gets_the_missing_id_404(seeded):
    """For every rule that takes an id (from the URL map, so new id routes are swept
    automatically): each user the table allows, replaced by a user of the same role,
    gets a 404 whose body is the body of a missing id."""
    table = _table()
    checked, failures = 0, []
    for rule, method in sorted(_rules(seeded.app)):
        if "<int:" not in rule:
            continue
        row = table[(rule, method)]
        for owner in sorted(row.allow & set(PEER)):
            peer = PEER[owner]
            if peer in row.allow:
                continue  # both may: nothing of one's own (e.g. the reviewers' inbox)
            missing = send(seeded, row, method, peer, seeded.missing_path(rule, row.ids))
            denied = send(seeded, row, method, peer, seeded.path(rule, row.ids))
            checked += 1
            if denied.status_code != 404 or _body(denied) != _body(missing):
                failures.append(
                    f"{method} {rule}: {peer} (peer of {owner}) got {denied.status_code}, "
                    f"a missing id {missing.status_code}"
                )
            if _changes_state(method, status_class(denied)):
                _restore(seeded.app)
    assert checked >= 30, f"only {checked} id routes swept"
    assert not failures, "\n".join(failures)
