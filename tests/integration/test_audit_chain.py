"""The audit trail is append-only and chained by hash: the application cannot change
or remove a row, and `flask --app board audit verify` finds a row edited, removed or
forked behind the application's back (as a superuser switching the trigger off)."""

from __future__ import annotations

import itertools
import subprocess
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import create_engine, delete, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from board.audit import chain
from board.audit import services as audit
from board.audit.models import AuditEvent
from board.extensions import db
from tests.integration.test_migrations import scratch_postgres  # noqa: F401  (a fixture)
from tests.support.processes import BIN, ROOT, service_env
from tests.support.services import DATABASE_URL


def _commit_rows(count: int, action: str = "case_view") -> None:
    for n in range(count):
        audit.record(action, object_type="case", object_id=n + 1)
        db.session.commit()


def _verify_cli() -> subprocess.CompletedProcess[str]:
    """The real command, in its own process, on the test database."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "board", "audit", "verify"],
        env=service_env(mail_port=1),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _behind_the_applications_back() -> Iterator[Connection]:
    """A superuser switches the append-only trigger off for one transaction: the
    tampering the chain exists to reveal."""
    engine = create_engine(DATABASE_URL)
    try:
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
            yield conn
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"))
    finally:
        engine.dispose()


def _rows() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def test_rows_are_numbered_in_commit_order_and_each_follows_the_one_before(ctx):
    _commit_rows(3)
    audit.record("case_create", case_id=None, object_type="case", object_id=9)
    audit.record("case_view", object_type="case", object_id=9)
    db.session.commit()
    rows = _rows()
    assert [r.id for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == chain.GENESIS
    for before, row in itertools.pairwise(rows):
        assert row.prev_hash == before.row_hash
    assert all(chain.row_hash(r.as_chain_row()) == r.row_hash for r in rows)
    verdict = audit.verify()
    assert verdict.intact and verdict.rows == 5 and verdict.head_id == 5


def test_a_rolled_back_transaction_leaves_no_row_and_no_gap(ctx):
    _commit_rows(1)
    audit.record("case_update", object_type="case", object_id=1)
    db.session.rollback()
    _commit_rows(1)
    assert [r.id for r in _rows()] == [1, 2]
    assert audit.verify().intact


def test_concurrent_commits_make_one_chain_without_gaps_or_forks(app: Flask):
    threads, per_thread, errors = 4, 40, []

    def work() -> None:
        try:
            with app.app_context():
                _commit_rows(per_thread)
                db.session.remove()
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with app.app_context():
        rows = _rows()
        assert [r.id for r in rows] == list(range(1, threads * per_thread + 1))
        assert len({r.prev_hash for r in rows}) == len(rows)  # nobody follows a row twice
        assert audit.verify().intact
        db.session.remove()


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).where(AuditEvent.id == 1).values(outcome="ok", actor_id=None),
        delete(AuditEvent).where(AuditEvent.id == 1),
        text("TRUNCATE audit_events"),
    ],
    ids=["update", "delete", "truncate"],
)
def test_the_application_cannot_change_or_remove_an_audit_row(ctx, statement):
    _commit_rows(1)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(statement)
        db.session.flush()
    db.session.rollback()
    assert len(_rows()) == 1 and audit.verify().intact


def test_the_orm_cannot_edit_a_loaded_row_either(ctx):
    _commit_rows(1)
    row = _rows()[0]
    row.outcome = "denied"
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_a_database_role_without_ownership_can_neither_change_rows_nor_switch_the_trigger_off(
    ctx,
):
    """The application's role in production owns no table: it cannot DISABLE the trigger
    (owner only) or set session_replication_role (superuser only)."""
    _commit_rows(1)
    role = f"board_app_{uuid.uuid4().hex[:10]}"
    engine = create_engine(DATABASE_URL)
    refused = {}
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
            conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON audit_events TO {role}"))
            conn.commit()
            attempts = {
                "update": "UPDATE audit_events SET outcome = 'denied'",
                "delete": "DELETE FROM audit_events",
                "disable": "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
                "replica": "SET session_replication_role = replica",
                "truncate": "TRUNCATE audit_events",
            }
            for name, statement in attempts.items():
                conn.execute(text(f"SET ROLE {role}"))
                try:
                    conn.execute(text(statement))
                except DBAPIError as exc:
                    refused[name] = str(exc.orig).splitlines()[0]
                conn.rollback()
    finally:
        with engine.connect() as conn:
            conn.execute(text("RESET ROLE"))
            conn.execute(text(f"DROP OWNED BY {role}"))
            conn.execute(text(f"DROP ROLE {role}"))
            conn.commit()
        engine.dispose()
    assert set(refused) == set(attempts), refused
    assert "append-only" in refused["update"] and "append-only" in refused["delete"]
    assert "owner" in refused["disable"] and "permission denied" in refused["replica"]
    assert len(_rows()) == 1 and audit.verify().intact


def test_verify_says_intact_with_the_count_and_exits_zero(ctx):
    _commit_rows(4)
    result = _verify_cli()
    assert result.returncode == 0, result.stderr
    assert "audit chain intact: 4 rows" in result.stdout


def test_verify_finds_a_row_edited_directly_in_the_database(ctx):
    _commit_rows(5)
    with _behind_the_applications_back() as conn:
        conn.execute(text("UPDATE audit_events SET outcome = 'denied' WHERE id = 3"))
    result = _verify_cli()
    assert result.returncode == 1
    assert "BROKEN at row 3" in result.stderr and "edited" in result.stderr


def test_verify_finds_a_row_edited_and_rehashed_by_its_successor(ctx):
    """Rehashing the edited row itself does not help: the next row's prev_hash points
    at the old hash."""
    _commit_rows(5)
    row = _rows()[2].as_chain_row()
    row["actor_id"] = 42
    with _behind_the_applications_back() as conn:
        conn.execute(
            text("UPDATE audit_events SET actor_id = 42, row_hash = :h WHERE id = 3"),
            {"h": chain.row_hash(row)},
        )
    result = _verify_cli()
    assert result.returncode == 1
    assert "BROKEN at row 4" in result.stderr and "prev_hash" in result.stderr


def test_verify_finds_a_removed_row(ctx):
    _commit_rows(5)
    with _behind_the_applications_back() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = 2"))
    result = _verify_cli()
    assert result.returncode == 1
    assert "BROKEN at row 3" in result.stderr and "row 2 is missing" in result.stderr


def test_verify_finds_a_fork(ctx):
    """Row 4 made to follow row 2 (as a second writer without the lock would): it is
    self-consistent, but row 3 already follows row 2."""
    _commit_rows(5)
    rows = _rows()
    forked = rows[3].as_chain_row()
    forked["prev_hash"] = rows[1].row_hash
    with _behind_the_applications_back() as conn:
        conn.execute(
            text("UPDATE audit_events SET prev_hash = :p, row_hash = :h WHERE id = 4"),
            {"p": forked["prev_hash"], "h": chain.row_hash(forked)},
        )
    result = _verify_cli()
    assert result.returncode == 1
    assert "BROKEN at row 4" in result.stderr and "forks" in result.stderr
    assert "follows row 2" in result.stderr


def test_the_request_id_is_echoed_and_a_malformed_one_from_outside_is_replaced(client):
    fresh = client.get("/login")
    generated = fresh.headers["X-Request-ID"]
    assert audit.well_formed_request_id(generated)
    proxy_id = "9f1c2d3e-4b5a-6789-abcd-ef0123456789"
    assert (
        client.get("/login", headers={"X-Request-ID": proxy_id}).headers["X-Request-ID"] == proxy_id
    )
    for hostile in ("x", "a b c d e f g h", "<script>alert(1)</script>", "z" * 65, "évilévil"):
        echoed = client.get("/login", headers={"X-Request-ID": hostile}).headers["X-Request-ID"]
        assert echoed != hostile and audit.well_formed_request_id(echoed)


def test_the_embedded_mode_on_sqlite_chains_concurrent_writers_and_refuses_changes(tmp_path):
    """`make run` without servers uses SQLite: the same chain (its single write lock
    instead of the advisory lock) and triggers that refuse UPDATE and DELETE."""
    from flask_migrate import upgrade

    from tests.integration.test_migrations import board_app

    with board_app(f"sqlite:///{tmp_path / 'board.sqlite'}") as embedded:
        upgrade()
        db.session.remove()
        errors: list[Exception] = []

        def work() -> None:
            try:
                with embedded.app_context():
                    _commit_rows(25)
                    db.session.remove()
            except Exception as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        verdict = audit.verify()
        assert verdict.intact and verdict.rows == 100
        for statement in ("UPDATE audit_events SET outcome = 'denied'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_the_migration_numbers_and_chains_the_rows_already_there(engine, tmp_path, request):
    """Rows written before the chain (ids with gaps, as a sequence leaves them) are
    numbered 1..n in their order and chained, and verify says intact."""
    from flask_migrate import downgrade, upgrade

    from tests.integration.test_migrations import board_app

    url = (
        request.getfixturevalue("scratch_postgres")
        if engine == "postgresql"
        else f"sqlite:///{tmp_path / 'board.sqlite'}"
    )
    with board_app(url):
        upgrade(revision="ad0ac8a49cdb")
        with db.engine.begin() as conn:
            for row_id, action in ((3, "login"), (7, "case_view"), (8, "logout")):
                conn.execute(
                    text(
                        "INSERT INTO audit_events (id, at, action, outcome, source_ip) "
                        "VALUES (:id, :at, :action, 'ok', '10.0.0.1')"
                    ),
                    {"id": row_id, "at": "2026-11-01 10:00:00.123456+00:00", "action": action},
                )
        upgrade()
        rows = _rows()
        assert [(r.id, r.action) for r in rows] == [(1, "login"), (2, "case_view"), (3, "logout")]
        assert audit.verify().intact
        _commit_rows(1)  # the application carries on the chain
        assert [r.id for r in _rows()] == [1, 2, 3, 4] and audit.verify().rows == 4
        downgrade(revision="ad0ac8a49cdb")
