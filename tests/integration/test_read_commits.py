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
