"""Shared builders for the tests that run real worker processes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import select, text

from board.auth.models import User
from board.auth.roles import Role
from board.cases import services as cases
from board.cases.models import Case
from board.cases.schemas import CaseInput
from board.extensions import db
from board.notifications.models import Notification
from board.outbox.models import OutboxMessage, OutboxStatus
from board.reviews.models import ACTIVE_ASSIGNMENT, Assignment, Purpose
from board.validation import parse
from tests.support import factories as f
from tests.support.processes import MailSink, OwnRedis
from tests.support.services import REDIS_URL

ROUTE = "routing.route_case"
EMAIL = "notifications.send_email"
# Deliveries counted as begun (begin_attempt commits first) that have not finished.
IN_FLIGHT = (
    "SELECT count(*) FROM outbox_messages WHERE task = :t AND attempts > 0 AND status <> 'done'"
)


@dataclass
class World:
    referrer: User
    home_pathologist: User  # at the referrer's institution: never eligible
    reviewers: list[User]
    coordinator: User


# These tests are about delivery, not about the routing rules: no reviewer may fill up
# (the capacity rule would leave specialties uncovered among hundreds of cases).
UNLIMITED = 100_000


def build_world(pathologists: int = 4, oncologists: int = 3) -> World:
    home = f.institution("Home Oncology")
    away = f.institution("University Breast Center")
    reviewers = [f.user(Role.PATHOLOGIST, away) for _ in range(pathologists)]
    reviewers += [f.user(Role.MEDICAL_ONCOLOGIST, away) for _ in range(oncologists)]
    reviewers += [f.user(Role.RADIATION_ONCOLOGIST, away) for _ in range(oncologists)]
    for reviewer in reviewers:
        reviewer.max_open_assignments = UNLIMITED
    db.session.commit()
    return World(
        referrer=f.user(Role.REFERRER, home),
        home_pathologist=f.user(Role.PATHOLOGIST, home),
        reviewers=reviewers,
        coordinator=f.user(Role.COORDINATOR, away),
    )


# A post-biopsy case always needs pathology; the referrer may ask for more.
REQUESTS: list[list[str]] = [[], ["medical_oncology"], ["medical_oncology", "radiation_oncology"]]


def complete_draft(referrer: User, requested: list[str], pdf: bytes) -> Case:
    """A post-biopsy draft with its pathology report: ready to submit."""
    data = parse(CaseInput, f.case_body(requested_specialties=requested))
    case = cases.create_draft(referrer, data)
    cases.add_record(referrer, case.id, kind="pathology_report", filename="path.pdf", data=pdf)
    return case


def draft_cases(world: World, count: int) -> dict[int, set[str]]:
    """Creates `count` complete post-biopsy drafts in this process, ready to submit;
    returns the specialties each will need."""
    pdf = f.pdf()
    needed: dict[int, set[str]] = {}
    for i in range(count):
        requested = REQUESTS[i % len(REQUESTS)]
        case = complete_draft(world.referrer, requested, pdf)
        needed[case.id] = {"pathology", *requested}
    return needed


def submit_cases(world: World, count: int) -> dict[int, set[str]]:
    """Submits `count` complete post-biopsy cases in this process; returns the
    specialties each needs."""
    needed = draft_cases(world, count)
    for case_id in needed:
        cases.submit(world.referrer, case_id)
    return needed


def scalar(sql: str, **params: Any) -> Any:
    # A fresh connection per poll: always sees what the worker committed.
    with db.engine.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def routing_finished(count: int) -> bool:
    """Every case in review, every outbox message done, every notification emailed."""
    return bool(
        scalar("SELECT count(*) FROM cases WHERE status = 'in_review'") == count
        and scalar("SELECT count(*) FROM outbox_messages WHERE status <> 'done'") == 0
        and scalar("SELECT count(*) FROM notifications WHERE emailed_at IS NULL") == 0
    )


@dataclass(frozen=True)
class Delivered:
    assignments: int
    emails: int
    # How many routing messages counted 1, 2, 3 ... deliveries begun.
    routing_attempts: dict[int, int]

    @property
    def max_routing_attempts(self) -> int:
        return max(self.routing_attempts)

    def __str__(self) -> str:
        return (
            f"{self.assignments} assignments, {self.emails} emails received (at least once "
            f"each; duplicates allowed); routing messages by deliveries begun "
            f"{dict(sorted(self.routing_attempts.items()))}"
        )


def assert_routed_once(world: World, needed: dict[int, set[str]], mail: MailSink) -> Delivered:
    """Nothing lost, nothing doubled: every case in review with exactly one active
    primary assignment per specialty it needs, one inbox notification per assignment,
    one email message per notification, every email received at least once."""
    db.session.expire_all()
    assignments = db.session.scalars(select(Assignment)).all()
    assert {a.status for a in assignments} <= {s.value for s in ACTIVE_ASSIGNMENT}
    assert {a.purpose for a in assignments} == {Purpose.PRIMARY.value}
    by_case: dict[int, list[str]] = {}
    for a in assignments:
        by_case.setdefault(a.case_id, []).append(a.specialty)
    assert set(by_case) == set(needed), "cases lost"
    for case_id, specialties in by_case.items():
        assert sorted(specialties) == sorted(needed[case_id]), case_id
    statuses = Counter(c.status for c in db.session.scalars(select(Case)))
    assert statuses == {"in_review": len(needed)}, statuses
    pairs = Counter((a.case_id, a.reviewer_id) for a in assignments)
    assert max(pairs.values()) == 1, "a reviewer assigned twice to one case"
    assert world.home_pathologist.id not in {a.reviewer_id for a in assignments}

    routing_rows = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.task == ROUTE)
    ).all()
    assert len(routing_rows) == len(needed)
    assert {r.status for r in routing_rows} == {OutboxStatus.DONE}

    notes = db.session.scalars(select(Notification)).all()
    assert {n.kind for n in notes} == {"assignment"}
    assert Counter((n.user_id, n.case_id) for n in notes) == Counter(
        (a.reviewer_id, a.case_id) for a in assignments
    ), "duplicate or missing inbox notifications"
    email_rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.task == EMAIL)).all()
    assert sorted(r.payload["notification_id"] for r in email_rows) == sorted(n.id for n in notes)
    assert {r.status for r in email_rows} == {OutboxStatus.DONE}
    emails = {(m["To"], m["Subject"]) for m in mail.messages}
    emails_by_user = {u.id: u.email for u in world.reviewers}
    for a in assignments:
        assert (
            emails_by_user[a.reviewer_id],
            f"New review assignment (case #{a.case_id})",
        ) in emails, a.id
    return Delivered(
        assignments=len(assignments),
        emails=len(mail.messages),
        routing_attempts=dict(Counter(r.attempts for r in routing_rows)),
    )


class Http:
    """A bearer-token client for the running web server."""

    def __init__(self, base_url: str, email: str):
        self.base = f"{base_url}/api/v1"
        response = requests.post(
            f"{self.base}/auth/token",
            json={"username": email, "password": f.PASSWORD, "otp": f.otp(email)},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        self.headers = {"Authorization": f"Bearer {response.json()['token']}"}

    def get(self, path: str) -> requests.Response:
        return requests.get(f"{self.base}{path}", headers=self.headers, timeout=30)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.post(f"{self.base}{path}", headers=self.headers, timeout=30, **kwargs)

    def complete_draft(self, **overrides: Any) -> int:
        """Creates a post-biopsy draft and uploads its pathology report: ready to submit."""
        created = self.post("/cases", json=f.case_body(**overrides))
        assert created.status_code == 201, created.text
        case_id: int = created.json()["id"]
        uploaded = self.post(
            f"/cases/{case_id}/records",
            data={"kind": "pathology_report"},
            files={"file": ("path.pdf", f.pdf(), "application/pdf")},
        )
        assert uploaded.status_code == 201, uploaded.text
        return case_id


@pytest.fixture
def broker(app: Flask) -> Iterator[redis.Redis]:
    """This suite's Redis database, empty before and after: a message left over from
    another test would name ids that the truncated tables hand out again."""
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of the test's own, which the test may stop, freeze and restart."""
    server = OwnRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()
