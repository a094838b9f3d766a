"""No N+1: each page and API read runs as many SQL statements on a small board as on
a board ten times its size (bench/seed.py's data: cases with records, assignments,
signed reviews, consensus, releases, notifications and audit rows), and the seeder's
board is consistent (its audit chain verifies, its sign-ins work)."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from bench.seed import seed
from board.audit import services as audit
from board.extensions import db
from tests.support.api import sign_in
from tests.support.query_counts import READS, run_read
from tests.support.services import DATABASE_URL, RECORDS_DIR, RECORDS_KEY, truncate

SMALL, LARGE = 3, 40


def _counts(app: Flask, cases: int) -> tuple[dict[str, int], dict[str, list[str]], dict[str, Any]]:
    seeded = seed(DATABASE_URL, cases, seed=7, records_dir=RECORDS_DIR, records_key=RECORDS_KEY)
    clients = {}
    for who in ("coordinator", "reviewer", "referrer", "admin"):
        client = app.test_client()
        response = sign_in(client, seeded[who]["email"])
        assert response.status_code == 302, response.text
        clients[who] = client
    counts, statements = {}, {}
    with app.app_context():
        engine = db.engine
    for read in READS:
        found = run_read(app, clients[read.who], read, seeded, engine)
        counts[read.name] = len(found)
        statements[read.name] = [sql for sql, _ in found.sql]
    return counts, statements, seeded


def _empty(app: Flask) -> None:
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            truncate(conn, [t.name for t in db.metadata.sorted_tables], restart_identity=True)


def test_statements_per_read_do_not_grow_with_the_board(app: Flask) -> None:
    small, small_sql, _ = _counts(app, SMALL)
    _empty(app)
    large, large_sql, seeded = _counts(app, LARGE)
    with app.app_context():
        cases = db.session.scalar(text("SELECT count(*) FROM cases"))
        reviews = db.session.scalar(text("SELECT count(*) FROM reviews"))
        inbox = db.session.scalar(
            text("SELECT count(*) FROM assignments WHERE reviewer_id = :id"),
            {"id": seeded["reviewer"]["id"]},
        )
    # The larger board really is larger where the reads look.
    assert cases == LARGE and reviews > 2 * LARGE * 0.8 and inbox >= 6
    differ = {name: (small[name], large[name]) for name in small if small[name] != large[name]}
    detail = "\n".join(
        f"{name}: {a} statements with {SMALL} cases, {b} with {LARGE}; extra: "
        + repr(
            [s[:160] for s in (Counter(large_sql[name]) - Counter(small_sql[name])).elements()][:3]
        )
        for name, (a, b) in differ.items()
    )
    assert not differ, detail
    # Every read does some work, and none is unbounded (a guard against a count of 0
    # because the listener saw nothing).
    assert all(0 < n < 40 for n in large.values()), sorted(large.items())


@pytest.mark.parametrize("cases", [1, 40])
def test_the_seeded_board_is_consistent(app: Flask, cases: int) -> None:
    seeded = seed(DATABASE_URL, cases, records_dir=RECORDS_DIR, records_key=RECORDS_KEY)
    counts = seeded["counts"]
    assert counts["cases"] == cases
    with app.app_context():
        verdict, pending = audit.verify()
        assert verdict.intact, verdict.broken
        assert verdict.rows == counts["audit_events"] and pending.rows == 0
        assert db.session.scalar(text("SELECT count(*) FROM case_verdict_summaries")) == (
            db.session.scalar(text("SELECT count(DISTINCT case_id) FROM reviews"))
        )
        # The sequences moved past the copied ids: the next insert does not collide.
        nxt = db.session.scalar(text("SELECT nextval(pg_get_serial_sequence('cases', 'id'))"))
        assert nxt == cases + 1
    client = app.test_client()
    client.set_cookie("board_session", seeded["coordinator"]["cookie"])
    assert client.get("/board").status_code == 200
    api = app.test_client()
    token = {"Authorization": f"Bearer {seeded['reviewer']['token']}"}
    assert api.get("/api/v1/assignments", headers=token).status_code == 200
    assert sign_in(app.test_client(), seeded["referrer"]["email"]).status_code == 302


def test_case_lists_show_a_page_at_a_time(app: Flask) -> None:
    seeded = seed(DATABASE_URL, 130)
    coordinator = app.test_client()
    coordinator.set_cookie("board_session", seeded["coordinator"]["cookie"])
    first = coordinator.get("/board").text
    shown = re.findall(r'<tr[^>]*>\s*<td><a href="/cases/(\d+)">', first.split('class="counts"')[1])
    assert [int(i) for i in shown] == list(range(130, 80, -1))
    assert "<strong>130</strong>All" in first  # the counts are of every case
    older = re.search(r'href="/board\?before=(\d+)">Older cases', first)
    assert older is not None and older.group(1) == "81"
    second = coordinator.get("/board?before=81").text.split('class="counts"')[1]
    shown = re.findall(r'<tr[^>]*>\s*<td><a href="/cases/(\d+)">', second)
    assert [int(i) for i in shown] == list(range(80, 30, -1))

    token = {"Authorization": f"Bearer {seeded['coordinator']['token']}"}
    api = app.test_client()
    page = api.get("/api/v1/cases?limit=60", headers=token).get_json()
    assert [c["id"] for c in page["cases"]] == list(range(130, 70, -1))
    assert page["next_before"] == 71
    rest = api.get("/api/v1/cases?limit=500&before=71", headers=token).get_json()
    assert [c["id"] for c in rest["cases"]] == list(range(70, 0, -1))
    assert rest["next_before"] is None
    everything = api.get("/api/v1/cases", headers=token).get_json()
    assert len(everything["cases"]) == 100 and everything["next_before"] == 31
    for bad in ("0", "501", "x", "²"):
        response = api.get(f"/api/v1/cases?limit={bad}", headers=token)
        assert response.status_code == 422, bad
        assert response.get_json()["details"][0]["field"] == "limit"
