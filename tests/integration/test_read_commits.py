"""A read's audited commit keeps what the request loaded; any other commit expires it.

After the audit row of a GET request is committed, the rows the view loaded are still
rendered: expiring them (SQLAlchemy's default at commit) made every listed row read again,
one SELECT per row (bench/README.md, web.py). A commit that wrote anything else, or the
commit of a POST, still expires everything, so a change is always read back."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import inspect

from board.audit import services as audit
from board.auth.models import Institution
from board.auth.roles import Role
from board.extensions import db
from tests.support import factories as f


def _expired_after_commit(app: Flask, method: str, *, also_write: bool) -> bool:
    with app.app_context():
        account = f.user(Role.COORDINATOR)
        institution_id = account.institution_id
        db.session.remove()
        with app.test_request_context("/board", method=method):
            institution = db.session.get(Institution, institution_id)
            assert institution is not None
            if also_write:
                institution.name = institution.name + " (renamed)"
            audit.record("case_list", actor=db.session.get(type(account), account.id))
            db.session.commit()
            expired = bool(inspect(institution).expired_attributes)
            # The next transaction expires as usual again.
            assert db.session().expire_on_commit is True
            db.session.remove()
        return expired


@pytest.mark.parametrize(
    ("method", "also_write", "expired"),
    [
        ("GET", False, False),  # a read: only the audit row is written
        ("HEAD", False, False),
        ("GET", True, True),  # a GET that changed a row: read back
        ("POST", False, True),  # any other method: SQLAlchemy's default
    ],
)
def test_only_a_reads_audited_commit_keeps_the_loaded_rows(
    app: Flask, method: str, also_write: bool, expired: bool
) -> None:
    assert _expired_after_commit(app, method, also_write=also_write) is expired


def test_a_signed_in_page_reads_its_session_and_account_in_one_statement(app: Flask) -> None:
    from sqlalchemy import event

    from tests.support.api import sign_in

    with app.app_context():
        email = f.user(Role.COORDINATOR).email
        db.session.remove()
    client = app.test_client()
    assert sign_in(client, email).status_code in (302, 303)
    client.get("/board")
    statements: list[str] = []

    def log(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", log)
    try:
        assert client.get("/board").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", log)
    reads_of_users = [s for s in statements if s.lstrip().startswith("SELECT") and "users" in s]
    assert "web_sessions" in reads_of_users[0]
    assert not any(s.lstrip().startswith("SELECT users") for s in statements[:3]), statements[:3]
    # Nothing changed in the session and "last seen" is fresh: no session write.
    assert not any("web_sessions" in s for s in statements if not s.lstrip().startswith("SELECT"))


def _signed_in_client(app: Flask, role: Role):  # type: ignore[no-untyped-def]
    from tests.support.api import sign_in

    with app.app_context():
        email = f.user(role).email
        db.session.remove()
    client = app.test_client()
    assert sign_in(client, email).status_code in (302, 303)
    return client


def test_a_pages_reads_and_their_audit_row_are_one_transaction_on_one_connection(
    app: Flask,
) -> None:
    """The audit row of a GET is committed with the response, after the page's reads: one
    pool checkout and one COMMIT for the whole page, and the row is there afterwards."""
    from sqlalchemy import event, func, select

    from board.audit.models import AuditEvent

    client = _signed_in_client(app, Role.COORDINATOR)
    client.get("/board")
    with app.app_context():
        engine = db.engine
        before = db.session.scalar(select(func.count()).select_from(AuditEvent))
        db.session.remove()
    checkouts: list[object] = []
    commits: list[object] = []

    def on_checkout(*args: object) -> None:
        checkouts.append(args)

    def on_commit(*args: object) -> None:
        commits.append(args)

    event.listen(engine, "checkout", on_checkout)
    event.listen(engine, "commit", on_commit)
    try:
        assert client.get("/board").status_code == 200
    finally:
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "commit", on_commit)
    assert (len(checkouts), len(commits)) == (1, 1)
    with app.app_context():
        rows = db.session.scalar(select(func.count()).select_from(AuditEvent))
        assert rows == before + 1


def test_a_read_whose_audit_row_cannot_be_written_is_not_shown(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the commit of a read's audit row fails, the page is withheld: a 500, and none
    of what was read leaves the server."""
    client = _signed_in_client(app, Role.COORDINATOR)
    assert "Follow-up questions" in client.get("/board").text
    real_commit = db.session.commit

    def failing_commit() -> None:
        if db.session().info.get("audit_pending"):
            raise RuntimeError("the database refused the audit row")
        real_commit()

    monkeypatch.setattr(db.session, "commit", failing_commit, raising=False)
    response = client.get("/board")
    assert response.status_code == 500
    assert "could not record this read" in response.text
    assert "Follow-up questions" not in response.text  # the dashboard itself is not sent
