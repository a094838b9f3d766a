"""The audit trail is append-only and chained by hash after the commit: the application
cannot change or remove an event or a row of the chain, the chainer links every
committed event exactly once (a transaction still running holds the rows after it
back, never loses them), and `flask --app board audit verify` finds an event edited,
removed or slipped in, and a row of the chain removed, rewritten or forked, behind the
application's back (as a superuser switching the triggers off)."""

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
from board.audit.models import AuditEvent, AuditLink
from board.extensions import db
from tests.integration.test_migrations import scratch_postgres  # noqa: F401  (a fixture)
from tests.support.processes import BIN, ROOT, service_env
from tests.support.services import DATABASE_URL


def _commit_rows(count: int, action: str = "case_view") -> None:
    for n in range(count):
        audit.record(action, object_type="case", object_id=n + 1)
        db.session.commit()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command, in its own process, on the test database."""
    return subprocess.run(
        [str(BIN / "flask"), "--app", "board", "audit", *args],
        env=service_env(mail_port=1),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _behind_the_applications_back() -> Iterator[Connection]:
    """A superuser switches the append-only triggers off for one transaction: the
    tampering the chain exists to reveal."""
    engine = create_engine(DATABASE_URL)
    try:
        with engine.begin() as conn:
            for table in ("audit_events", "audit_chain"):
                conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only"))
            yield conn
            for table in ("audit_events", "audit_chain"):
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only"))
    finally:
        engine.dispose()


def _events() -> list[AuditEvent]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)))


def _links() -> list[AuditLink]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditLink).order_by(AuditLink.seq)))


def _chained(count: int) -> list[AuditLink]:
    """`count` committed rows, linked by the chainer."""
    _commit_rows(count)
    assert audit.chain_all() == count
    return _links()


def test_committed_rows_wait_for_the_chainer_then_each_follows_the_one_before(ctx):
    _commit_rows(3)
    audit.record("case_create", case_id=None, object_type="case", object_id=9)
    audit.record("case_view", object_type="case", object_id=9)
    db.session.commit()
    assert _links() == []
    verdict, pending = audit.verify()
    assert verdict.intact and verdict.rows == 0 and pending.rows == 5

    assert audit.chain_all() == 5
    events, links = _events(), _links()
    assert [link.seq for link in links] == [1, 2, 3, 4, 5]
    assert [link.event_id for link in links] == [e.id for e in events]
    assert links[0].prev_hash == chain.GENESIS
    for before, link in itertools.pairwise(links):
        assert link.prev_hash == before.row_hash
    for event, link in zip(events, links, strict=True):
        fields = {name: getattr(event, name) for name in chain.FIELDS if name != "prev_hash"}
        assert chain.row_hash({**fields, "prev_hash": link.prev_hash}) == link.row_hash
    verdict, pending = audit.verify()
    assert verdict.intact and verdict.rows == 5 and verdict.head_row == 5 and pending.rows == 0
    assert audit.chain_all() == 0  # nothing is linked twice


def test_a_rolled_back_transaction_leaves_no_row_and_the_chain_no_gap(ctx):
    _commit_rows(1)
    audit.record("case_update", object_type="case", object_id=1)
    db.session.rollback()
    _commit_rows(1)
    assert [e.action for e in _events()] == ["case_view", "case_view"]
    audit.chain_all()
    assert [link.seq for link in _links()] == [1, 2]
    assert audit.verify()[0].intact


def test_a_transaction_still_running_holds_the_rows_after_it_back_and_loses_none(ctx):
    """The late committer's row (older transaction, committed last) is linked once it
    commits, before the newer transaction's row: nothing is skipped or linked twice."""
    engine = create_engine(DATABASE_URL)
    try:
        with engine.connect() as late:
            late.begin()
            late.execute(
                text(
                    "INSERT INTO audit_events (at, action, outcome) "
                    "VALUES (now(), 'late_writer', 'ok')"
                )
            )
            _commit_rows(2)  # newer transactions, committed first
            assert audit.chain_all() == 0  # the running transaction holds them back
            late.commit()
    finally:
        engine.dispose()
    assert audit.chain_all() == 3
    linked = [db.session.get(AuditEvent, link.event_id).action for link in _links()]
    assert linked == ["late_writer", "case_view", "case_view"]
    verdict, pending = audit.verify()
    assert verdict.intact and verdict.rows == 3 and pending.rows == 0


def test_concurrent_writers_and_chainers_make_one_chain_without_gaps_or_forks(app: Flask):
    writers, per_writer, errors = 4, 40, []
    done = threading.Event()

    def write() -> None:
        try:
            with app.app_context():
                _commit_rows(per_writer)
                db.session.remove()
        except Exception as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    def chain_while_writing() -> None:
        try:
            with app.app_context():
                while not done.is_set():
                    audit.chain_pending(batch=7)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(writers)]
    chainers = [threading.Thread(target=chain_while_writing) for _ in range(2)]
    for thread in (*threads, *chainers):
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    for thread in chainers:
        thread.join()
    assert errors == []
    with app.app_context():
        audit.chain_all()
        links, events = _links(), _events()
        assert [link.seq for link in links] == list(range(1, writers * per_writer + 1))
        assert sorted(link.event_id for link in links) == [e.id for e in events]
        assert len({link.prev_hash for link in links}) == len(links)  # no row followed twice
        verdict, pending = audit.verify()
        assert verdict.intact and verdict.rows == writers * per_writer and pending.rows == 0
        db.session.remove()


@pytest.mark.parametrize(
    "statement",
    [
        update(AuditEvent).where(AuditEvent.id == 1).values(outcome="ok", actor_id=None),
        delete(AuditEvent).where(AuditEvent.id == 1),
        text("TRUNCATE audit_events"),
        update(AuditLink).where(AuditLink.seq == 1).values(row_hash="0" * 64),
        delete(AuditLink).where(AuditLink.seq == 1),
        text("TRUNCATE audit_chain"),
    ],
    ids=[
        "update event",
        "delete event",
        "truncate events",
        "update chain",
        "delete chain",
        "truncate chain",
    ],
)
def test_the_application_cannot_change_or_remove_an_audit_row_or_a_link(ctx, statement):
    _chained(1)
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.execute(statement)
        db.session.flush()
    db.session.rollback()
    assert len(_events()) == 1 and len(_links()) == 1 and audit.verify()[0].intact


def test_the_orm_cannot_edit_a_loaded_row_either(ctx):
    _chained(1)
    row = _events()[0]
    row.outcome = "denied"
    with pytest.raises(DBAPIError, match="append-only"):
        db.session.commit()
    db.session.rollback()


def test_a_database_role_without_ownership_can_neither_change_rows_nor_switch_the_triggers_off(
    ctx,
):
    """The application's role in production owns no table: it cannot DISABLE a trigger
    (owner only) or set session_replication_role (superuser only)."""
    _chained(1)
    role = f"board_app_{uuid.uuid4().hex[:10]}"
    engine = create_engine(DATABASE_URL)
    refused = {}
    try:
        with engine.connect() as conn:
            conn.execute(text(f"CREATE ROLE {role} NOLOGIN"))
            conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {role}"))
            for table in ("audit_events", "audit_chain"):
                conn.execute(text(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {role}"))
            conn.commit()
            attempts = {
                "update": "UPDATE audit_events SET outcome = 'denied'",
                "delete": "DELETE FROM audit_events",
                "disable": "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
                "replica": "SET session_replication_role = replica",
                "truncate": "TRUNCATE audit_events",
                "update link": "UPDATE audit_chain SET row_hash = prev_hash",
                "delete link": "DELETE FROM audit_chain",
                "disable link": "ALTER TABLE audit_chain DISABLE TRIGGER audit_chain_append_only",
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
    for name in ("update", "delete", "update link", "delete link"):
        assert "append-only" in refused[name], refused[name]
    assert "owner" in refused["disable"] and "owner" in refused["disable link"]
    assert "permission denied" in refused["replica"]
    assert len(_events()) == 1 and audit.verify()[0].intact


def test_verify_says_intact_with_the_count_and_what_waits_for_the_chainer(ctx):
    _chained(4)
    _commit_rows(2)
    result = _cli("verify")
    assert result.returncode == 0, result.stderr
    assert "audit chain intact: 4 rows; head row 4 " in result.stdout
    assert "2 newer audit rows are not chained yet" in result.stdout
    chained = _cli("chain")
    assert chained.returncode == 0 and "chained 2 audit rows" in chained.stdout
    result = _cli("verify")
    assert "audit chain intact: 6 rows" in result.stdout and "not chained" not in result.stdout


def test_verify_finds_an_event_edited_directly_in_the_database(ctx):
    links = _chained(5)
    with _behind_the_applications_back() as conn:
        conn.execute(
            text("UPDATE audit_events SET outcome = 'denied' WHERE id = :id"),
            {"id": links[2].event_id},
        )
    result = _cli("verify")
    assert result.returncode == 1
    assert "BROKEN at row 3" in result.stderr and "edited" in result.stderr


def test_verify_finds_an_edited_event_whose_row_was_rehashed_by_the_next_row(ctx):
    """Rehashing the edited event's row does not help: the next row's prev_hash points
    at the old hash."""
    links = _chained(5)
    event = _events()[2]
    fields = {name: getattr(event, name) for name in chain.FIELDS if name != "prev_hash"}
    fields["actor_id"] = 42
    rehashed = chain.row_hash({**fields, "prev_hash": links[2].prev_hash})
    with _behind_the_applications_back() as conn:
        conn.execute(text("UPDATE audit_events SET actor_id = 42 WHERE id = :id"), {"id": event.id})
        conn.execute(text("UPDATE audit_chain SET row_hash = :h WHERE seq = 3"), {"h": rehashed})
    result = _cli("verify")
    assert result.returncode == 1
    assert "BROKEN at row 4" in result.stderr and "prev_hash" in result.stderr


def test_verify_finds_a_removed_event(ctx):
    links = _chained(5)
    with _behind_the_applications_back() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": links[1].event_id})
    result = _cli("verify")
    assert result.returncode == 1
    assert "BROKEN at row 2" in result.stderr
    assert f"audit event {links[1].event_id} was removed" in result.stderr


def test_verify_finds_a_removed_row_of_the_chain(ctx):
    _chained(5)
    with _behind_the_applications_back() as conn:
        conn.execute(text("DELETE FROM audit_chain WHERE seq = 2"))
    result = _cli("verify")
    assert result.returncode == 1
    assert "BROKEN at row 3" in result.stderr and "row 2 is missing" in result.stderr


def test_verify_finds_a_fork(ctx):
    """Row 4 made to follow row 2 (as a second chainer without the lock would): it is
    self-consistent, but row 3 already follows row 2."""
    links = _chained(5)
    event = db.session.get(AuditEvent, links[3].event_id)
    fields = {name: getattr(event, name) for name in chain.FIELDS if name != "prev_hash"}
    forked = chain.row_hash({**fields, "prev_hash": links[1].row_hash})
    with _behind_the_applications_back() as conn:
        conn.execute(
            text("UPDATE audit_chain SET prev_hash = :p, row_hash = :h WHERE seq = 4"),
            {"p": links[1].row_hash, "h": forked},
        )
    result = _cli("verify")
    assert result.returncode == 1
    assert "BROKEN at row 4" in result.stderr and "forks" in result.stderr
    assert "follows row 2" in result.stderr


def test_verify_finds_an_event_slipped_in_among_chained_ones(ctx):
    """An event written straight into the table, dated among the old ones (tx 0, as
    no running transaction has): the chainer never passes a finished row by, so an
    unlinked event before the chain's last one was not written by the application."""
    _chained(3)
    with _behind_the_applications_back() as conn:
        conn.execute(
            text(
                "INSERT INTO audit_events (at, action, outcome, tx) "
                "VALUES ('2026-01-01 10:00:00+00', 'case_view', 'ok', 0)"
            )
        )
    assert audit.chain_all() == 0
    result = _cli("verify")
    assert result.returncode == 1
    assert "added behind the application's back" in result.stderr


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
    """`make run` without servers uses SQLite: the same chain (its single writer commits
    rows in id order) and triggers that refuse UPDATE and DELETE on both tables."""
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
                    audit.chain_pending(batch=10)
                    db.session.remove()
            except Exception as exc:  # reported below
                errors.append(exc)

        workers = [threading.Thread(target=work) for _ in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert errors == []
        audit.chain_all()
        verdict, pending = audit.verify()
        assert verdict.intact and verdict.rows == 100 and pending.rows == 0
        for statement in (
            "UPDATE audit_events SET outcome = 'denied'",
            "DELETE FROM audit_events",
            "UPDATE audit_chain SET row_hash = prev_hash",
            "DELETE FROM audit_chain",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                db.session.execute(text(statement))
            db.session.rollback()


def _old_style_chain_intact(conn: Connection) -> list[int]:
    """e6auditchain01's rule, checked by hand: ids 1..n, each row's prev_hash the
    previous row's hash and its row_hash its own. Returns the ids."""
    rows = conn.execute(text("SELECT * FROM audit_events ORDER BY id")).mappings().all()
    prev = chain.GENESIS
    for number, row in enumerate(rows, start=1):
        assert row["id"] == number and row["prev_hash"] == prev
        values = dict(row)
        if isinstance(values["at"], str):  # SQLite: naive UTC text
            import datetime as dt

            values["at"] = dt.datetime.fromisoformat(values["at"]).replace(tzinfo=dt.UTC)
        if isinstance(values["detail"], str):
            import json

            values["detail"] = json.loads(values["detail"])
        assert chain.row_hash(values) == row["row_hash"]
        prev = row["row_hash"]
    return [row["id"] for row in rows]


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_the_migrations_carry_the_rows_already_there_into_the_chain_and_back(
    engine, tmp_path, request
):
    """Rows from before any chain (ids with gaps) are numbered and chained by
    e6auditchain01; e9auditchainer01 moves their hashes into the chain unchanged, the
    application carries on (new ids from the sequence, linked by the chainer), and the
    downgrade puts every row back in the chained-at-commit form."""
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
        upgrade(revision="e8indexes01")
        with db.engine.connect() as conn:
            hashes = conn.execute(text("SELECT id, row_hash FROM audit_events ORDER BY id")).all()
        upgrade()
        links = _links()
        assert [(link.seq, link.event_id, link.row_hash) for link in links] == [
            (n, n, digest) for n, digest in hashes
        ]
        assert [(e.id, e.action) for e in _events()] == [
            (1, "login"),
            (2, "case_view"),
            (3, "logout"),
        ]
        verdict, pending = audit.verify()
        assert verdict.intact and verdict.rows == 3 and pending.rows == 0
        _commit_rows(2)  # the application carries on the chain
        assert [e.id for e in _events()] == [1, 2, 3, 4, 5]
        assert audit.chain_all() == 2 and audit.verify()[0].rows == 5
        _commit_rows(1)  # one row not chained yet when the schema goes back
        db.session.remove()
        downgrade(revision="e8indexes01")
        with db.engine.connect() as conn:
            assert _old_style_chain_intact(conn) == [1, 2, 3, 4, 5, 6]
        downgrade(revision="ad0ac8a49cdb")
