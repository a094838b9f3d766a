"""Server-side sessions (board/auth/sessions.py): expiry, rotation, sign-out, cookie flags,
revocation. Through Flask's test client on the real PostgreSQL; the clock is moved with
time_machine (the app and the TOTP helper read the same clock)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from board.audit.models import AuditEvent
from board.auth import services as auth
from board.auth.models import User, WebSession
from board.auth.roles import Role
from board.config import load_config
from board.errors import NotFound
from board.extensions import db
from tests.support import factories as f
from tests.support.api import sign_in

COOKIE = "board_session"
START = dt.datetime(2026, 11, 25, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def people(app: Flask) -> Iterator[dict[str, f.Person]]:
    # Built in an app context that is closed before the test: requests must each get
    # their own (as under gunicorn), or Flask-Login's per-context user would carry over.
    with app.app_context():
        inst = f.institution()
        made = {
            "referrer": f.person(Role.REFERRER, inst),
            "admin": f.person(Role.ADMIN, inst),
        }
        db.session.remove()
    yield made


def _cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie(COOKIE)
    return cookie.value if cookie else None


def _row(app: Flask, token: str | None) -> WebSession | None:
    if token is None:
        return None
    with app.app_context():
        row = db.session.get(WebSession, hashlib.sha256(token.encode()).hexdigest())
        if row is not None:
            db.session.expunge(row)
        db.session.remove()
        return row


def _signed_in(client: FlaskClient) -> bool:
    response = client.get("/cases")
    if response.status_code == 302:
        assert "/login" in response.headers["Location"]
        return False
    assert response.status_code == 200, response.status_code
    return True


def test_the_cookie_carries_only_a_random_id_and_the_row_holds_json(app, people):
    client = app.test_client()
    assert sign_in(client, people["referrer"].email).status_code == 302
    token = _cookie(client)
    assert token is not None and re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 random bits
    assert "." not in token  # not a signed blob of data (Flask's default cookie)
    row = _row(app, token)
    assert row is not None and row.user_id == people["referrer"].id
    assert json.loads(row.data)["_user_id"] == str(people["referrer"].id)
    # Stored under the id's SHA-256: the table alone gives no usable cookie.
    assert _row(app, hashlib.sha256(token.encode()).hexdigest()) is None


def test_the_session_id_rotates_at_the_password_and_again_at_the_code(app, people):
    client = app.test_client()
    client.get("/login")  # an anonymous session (the form's CSRF token)
    anonymous = _cookie(client)
    assert anonymous is not None
    after_password = client.post(
        "/login", data={"email": people["referrer"].email, "password": f.PASSWORD}
    )
    assert after_password.headers["Location"] == "/login/code"
    pending = _cookie(client)
    assert pending not in (None, anonymous)
    assert _row(app, anonymous) is None
    assert not _signed_in(client)  # the password alone signs nobody in
    done = client.post("/login/code", data={"code": f.otp(people["referrer"].email)})
    assert done.status_code == 302
    signed_in = _cookie(client)
    assert signed_in not in (None, anonymous, pending)
    assert _row(app, pending) is None and _row(app, signed_in) is not None
    assert _signed_in(client)


def test_a_cookie_set_before_sign_in_is_worthless_after_it(app, people):
    """Session fixation: an id planted before sign-in does not become a signed-in one."""
    victim = app.test_client()
    victim.get("/login")
    planted = _cookie(victim)
    assert sign_in(victim, people["referrer"].email).status_code == 302
    attacker = app.test_client()
    attacker.set_cookie(COOKIE, planted)
    assert not _signed_in(attacker)


def test_signing_out_deletes_the_session_so_a_replayed_cookie_fails(app, people):
    client = app.test_client()
    sign_in(client, people["referrer"].email)
    stolen = _cookie(client)
    assert _signed_in(client)
    out = client.post("/logout")
    assert out.status_code == 302
    assert _row(app, stolen) is None
    assert not _signed_in(client)
    replay = app.test_client()
    replay.set_cookie(COOKIE, stolen)
    assert not _signed_in(replay)
    with app.app_context():
        actions = db.session.scalars(
            select(AuditEvent.action)
            .where(AuditEvent.action.in_(["login", "logout"]))
            .order_by(AuditEvent.id)
        ).all()
        db.session.remove()
    assert actions == ["login", "logout"]


def test_a_session_idles_out_after_15_minutes_without_a_request(app, people):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        sign_in(client, people["referrer"].email)
        clock.move_to(START + dt.timedelta(minutes=14))
        assert _signed_in(client)  # activity: the idle clock starts again
        clock.move_to(START + dt.timedelta(minutes=28))
        assert _signed_in(client)
        token = _cookie(client)
        clock.move_to(START + dt.timedelta(minutes=43, seconds=1))
        assert not _signed_in(client)
        assert _row(app, token) is None
        page = client.get("/login")
        assert "Your session ended" in page.text


def test_a_session_ends_12_hours_after_sign_in_however_active(app, people):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        sign_in(client, people["referrer"].email)
        moment = START
        while moment < START + dt.timedelta(hours=11, minutes=50):
            moment += dt.timedelta(minutes=10)
            clock.move_to(moment)
            assert _signed_in(client), moment
        clock.move_to(START + dt.timedelta(hours=12, minutes=1))
        assert not _signed_in(client)


@pytest.mark.parametrize(
    ("idle_minutes", "absolute_hours", "wait", "still_in"),
    [
        (15, 12, dt.timedelta(minutes=14, seconds=59), True),
        (15, 12, dt.timedelta(minutes=15, seconds=1), False),
        (5, 12, dt.timedelta(minutes=6), False),
        (60, 0.5, dt.timedelta(minutes=31), False),
        (60, 1, dt.timedelta(minutes=31), True),
    ],
)
def test_the_limits_come_from_the_configuration(
    app, people, monkeypatch, idle_minutes, absolute_hours, wait, still_in
):
    monkeypatch.setitem(app.config, "SESSION_IDLE_MINUTES", idle_minutes)
    monkeypatch.setitem(app.config, "SESSION_ABSOLUTE_HOURS", absolute_hours)
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        sign_in(client, people["referrer"].email)
        clock.move_to(START + wait)
        assert _signed_in(client) is still_in


def test_last_seen_is_written_at_most_once_a_minute(app, people):
    with time_machine.travel(START, tick=False) as clock:
        client = app.test_client()
        sign_in(client, people["referrer"].email)
        assert _signed_in(client)  # the first page stores the CSRF token: a real change
        token = _cookie(client)
        first = _row(app, token).last_seen_at  # type: ignore[union-attr]
        for seconds in (10, 30, 59):
            clock.move_to(START + dt.timedelta(seconds=seconds))
            assert _signed_in(client)
            assert _row(app, token).last_seen_at == first  # type: ignore[union-attr]
        clock.move_to(START + dt.timedelta(seconds=61))
        assert _signed_in(client)
        assert _row(app, token).last_seen_at == START + dt.timedelta(seconds=61)  # type: ignore[union-attr]


def test_the_session_cookie_is_httponly_samesite_lax_and_secure(app, people):
    client = app.test_client()
    response = sign_in(client, people["referrer"].email)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    morsel = SimpleCookie(header)[COOKIE]
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["secure"] is True
    assert not morsel["expires"] and not morsel["max-age"]  # ends with the browser too


@pytest.mark.parametrize(("secure_transport", "secure_cookie"), [(True, True), (False, False)])
def test_cookies_are_secure_outside_local_development(secure_transport, secure_cookie):
    config = load_config({"SECURE_TRANSPORT": secure_transport})
    assert config["SESSION_COOKIE_SECURE"] is secure_cookie
    assert config["SESSION_COOKIE_HTTPONLY"] is True
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_without_secure_transport_the_cookie_has_no_secure_flag(app, people, monkeypatch):
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", False)
    response = sign_in(app.test_client(), people["referrer"].email)
    header = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith(COOKIE))
    assert SimpleCookie(header)[COOKIE]["secure"] == ""
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_a_redis_outage_signs_nobody_out(app, people, monkeypatch):
    client = app.test_client()
    sign_in(client, people["referrer"].email)
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(app.config["CELERY"], "broker_url", "redis://127.0.0.1:1/0")
    assert _signed_in(client)
    form = client.get("/cases/new")
    assert form.status_code == 200 and 'name="csrf_token"' in form.text


def test_changing_the_password_signs_out_the_other_sessions(app, people):
    email = people["referrer"].email
    desk, laptop = app.test_client(), app.test_client()
    sign_in(desk, email)
    sign_in(laptop, email)
    page = desk.get("/account/password")
    assert "15 or more recommended" in page.text
    changed = desk.post(
        "/account/password",
        data={
            "current_password": f.PASSWORD,
            "new_password": "a new and rather long passphrase",
            "confirm_password": "a new and rather long passphrase",
        },
    )
    assert changed.status_code == 303
    assert _signed_in(desk)
    assert not _signed_in(laptop)
    again = app.test_client()
    assert sign_in(again, email, "a new and rather long passphrase").status_code == 302
    assert sign_in(app.test_client(), email).status_code == 401  # the old password


def test_an_admin_resets_a_lost_second_factor_which_ends_the_accounts_sessions(app, people):
    referrer = app.test_client()
    sign_in(referrer, people["referrer"].email)
    admin = app.test_client()
    sign_in(admin, people["admin"].email)
    assert "Reset" in admin.get("/admin/accounts").text
    reset = admin.post(f"/admin/accounts/{people['referrer'].id}/reset-mfa")
    assert reset.status_code == 303
    assert not _signed_in(referrer)
    with app.app_context():
        user = db.session.get(User, people["referrer"].id)
        assert user is not None and user.totp_secret is None
        event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "mfa_reset")).one()
        assert (event.actor_id, event.object_id) == (people["admin"].id, people["referrer"].id)
        db.session.remove()
    again = app.test_client().post(
        "/login", data={"email": people["referrer"].email, "password": f.PASSWORD}
    )
    assert again.headers["Location"] == "/login/enrol"


def test_only_an_admin_may_reset_a_second_factor(app, people):
    referrer = app.test_client()
    sign_in(referrer, people["referrer"].email)
    assert referrer.post(f"/admin/accounts/{people['admin'].id}/reset-mfa").status_code == 404
    with app.app_context():
        with pytest.raises(NotFound):
            auth.reset_mfa(db.session.get(User, people["referrer"].id), people["admin"].id)
        assert db.session.get(User, people["admin"].id).totp_secret == f.TOTP_SECRET  # type: ignore[union-attr]
        db.session.remove()
