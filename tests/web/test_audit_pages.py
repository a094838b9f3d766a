"""The audit trail pages (per case, per person, CSV) and the administrator's role change."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import func, select

from board.audit import services as audit
from board.audit.models import AuditEvent
from board.auth.models import User
from board.extensions import db
from board.reviews import services as reviews
from tests.web.test_pages import _assignment_of, _routed


def _count(world, action: str) -> int:
    return world.run(
        lambda: db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
        )
    )


def _views(world, case_id: int, count: int) -> None:
    def add() -> None:
        coordinator = world.user("coordinator")
        for _ in range(count):
            audit.record(
                "case_view", actor=coordinator, case_id=case_id, object_type="case", object_id=1
            )
            db.session.commit()

    world.run(add)


def test_the_coordinator_reads_a_cases_trail_from_the_case_page(world):
    case_id = _routed(world)
    coordinator = world.client("coordinator")
    case_page = coordinator.get(f"/cases/{case_id}").text
    assert f'href="/cases/{case_id}/audit"' in case_page
    page = coordinator.get(f"/cases/{case_id}/audit")
    assert page.status_code == 200
    for action in ("case_create", "record_upload", "case_submit", "assign", "case_view"):
        assert f"<code>{action}</code>" in page.text
    assert "Dr. Rhea Referrer" in page.text and "Referring oncologist" in page.text
    assert _count(world, "audit_view") == 1


def test_the_administrator_reads_the_trail_but_no_clinical_content(world):
    case_id = _routed(world)
    admin = world.client("admin")
    accounts = admin.get("/admin/accounts").text
    assert f'href="/users/{world.ids["referrer"]}/audit"' in accounts
    for path in (f"/cases/{case_id}/audit", f"/users/{world.ids['referrer']}/audit"):
        page = admin.get(path)
        assert page.status_code == 200
        assert f"#{case_id}" in page.text and "<code>case_create</code>" in page.text
        # The case body's patient, MRN and question appear nowhere on the trail.
        for clinical in ("Ada Patient", "MRN-0001", "confirm the grade"):
            assert clinical not in page.text
    # ...and the case itself stays closed to the administrator.
    assert admin.get(f"/cases/{case_id}").status_code == 404


@pytest.mark.parametrize("who", ["referrer", "pathologist", "other_referrer"])
def test_the_trail_is_not_found_for_anyone_but_coordinators_and_administrators(world, who):
    case_id = _routed(world)
    client = world.client(who)
    for path in (
        f"/cases/{case_id}/audit",
        f"/cases/{case_id}/audit.csv",
        f"/users/{world.ids[who]}/audit",
        f"/users/{world.ids[who]}/audit.csv",
    ):
        assert client.get(path).status_code == 404, path


def test_a_missing_case_or_person_is_a_404(world):
    coordinator = world.client("coordinator")
    assert coordinator.get("/cases/999999/audit").status_code == 404
    assert coordinator.get("/users/999999/audit").status_code == 404


def test_filters_by_action_and_period_and_refuses_a_backwards_period(world):
    case_id = _routed(world)
    coordinator = world.client("coordinator")
    only = coordinator.get(f"/cases/{case_id}/audit?action=case_submit").text
    assert "<code>case_submit</code>" in only and "<code>case_create</code>" not in only
    future = coordinator.get(f"/cases/{case_id}/audit?from=2999-01-01").text
    assert "No audit rows match." in future
    today = coordinator.get(f"/cases/{case_id}/audit?from=2020-01-01&to=2999-12-31").text
    assert "<code>case_create</code>" in today
    backwards = coordinator.get(f"/cases/{case_id}/audit?from=2026-02-01&to=2026-01-01")
    assert backwards.status_code == 422
    assert "must be on or after the start of the period" in backwards.text


def test_the_trail_is_paginated_newest_first_by_keyset(world):
    case_id = _routed(world)
    _views(world, case_id, 60)
    total = world.run(
        lambda: db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.case_id == case_id)
        )
    )
    coordinator = world.client("coordinator")
    first = coordinator.get(f"/cases/{case_id}/audit?action=case_view").text
    assert first.count("<code>case_view</code>") == 50
    assert "Older rows" in first
    older = first.split('href="')[-1].split('"')[0]
    assert older.startswith(f"/cases/{case_id}/audit?") and "before=" in older
    second = coordinator.get(older.replace("&amp;", "&")).text
    assert second.count("<code>case_view</code>") == 10
    assert "Older rows" not in second
    assert total > 60


def test_the_csv_export_holds_every_row_with_its_hash_and_is_audited(world):
    case_id = _routed(world)
    world.run(audit.chain_all)
    coordinator = world.client("coordinator")
    response = coordinator.get(f"/cases/{case_id}/audit.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["action"] for r in rows][:3] == ["case_create", "record_upload", "case_submit"]
    assert all(len(r["row_hash"]) == 64 and len(r["prev_hash"]) == 64 for r in rows)
    assert [int(r["chain_row"]) for r in rows] == sorted(int(r["chain_row"]) for r in rows)
    assert rows[0]["actor_name"] == "Dr. Rhea Referrer"
    assert _count(world, "audit_export") == 1
    filtered = coordinator.get(f"/cases/{case_id}/audit.csv?action=assign").text
    assert {r["action"] for r in csv.DictReader(io.StringIO(filtered))} == {"assign"}


# --- The administrator changes a role --------------------------------------------------


def _role(world, who: str) -> str:
    return world.run(lambda: db.session.get(User, world.ids[who]).role)


def test_the_administrator_changes_a_role_and_it_applies_at_the_next_request(world):
    medonc = world.client("medonc")
    assert medonc.get("/board").status_code == 404
    admin = world.client("admin")
    assert 'action="/admin/accounts/' in admin.get("/admin/accounts").text
    changed = admin.post(
        f"/admin/accounts/{world.ids['medonc']}/role", data={"role": "coordinator"}
    )
    assert changed.status_code == 303
    assert _role(world, "medonc") == "coordinator"
    assert medonc.get("/board").status_code == 200


def test_a_role_change_is_refused_for_oneself_an_unknown_role_and_a_reviewer_with_open_work(
    world,
):
    admin = world.client("admin")
    own = admin.post(f"/admin/accounts/{world.ids['admin']}/role", data={"role": "coordinator"})
    assert own.status_code == 303 and _role(world, "admin") == "admin"
    unknown = admin.post(
        f"/admin/accounts/{world.ids['medonc']}/role",
        data={"role": "superuser"},
        follow_redirects=True,
    )
    assert "must be one of" in unknown.text and _role(world, "medonc") == "medical_oncologist"
    case_id = _routed(world)
    assert _assignment_of(world, "pathologist", case_id)
    busy = admin.post(
        f"/admin/accounts/{world.ids['pathologist']}/role",
        data={"role": "coordinator"},
        follow_redirects=True,
    )
    assert "1 open assignment" in busy.text and _role(world, "pathologist") == "pathologist"
    assert _count(world, "role_change") == 0
    world.run(
        lambda: reviews.decline(
            world.user("pathologist"), _assignment_of(world, "pathologist", case_id), "Away"
        )
    )
    admin.post(f"/admin/accounts/{world.ids['pathologist']}/role", data={"role": "coordinator"})
    assert _role(world, "pathologist") == "coordinator" and _count(world, "role_change") == 1


@pytest.mark.parametrize("who", ["coordinator", "referrer", "pathologist"])
def test_only_the_administrator_changes_roles(world, who):
    response = world.client(who).post(
        f"/admin/accounts/{world.ids['medonc']}/role", data={"role": "coordinator"}
    )
    assert response.status_code == 404 and _role(world, "medonc") == "medical_oncologist"
