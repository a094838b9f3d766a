"""Signing in: the TOTP second factor, password rules and hashing, throttling, and
answers that do not tell an unknown email from a wrong password."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import redis
import time_machine
from argon2 import PasswordHasher
from flask import Flask
from sqlalchemy import select

from board.audit.models import AuditEvent
from board.auth import mfa, passwords, throttle
from board.auth import services as auth
from board.auth.models import User
from board.auth.roles import Role
from board.extensions import db
from board.validation import InvalidInput
from tests.support import factories as f
from tests.support.api import sign_in
from tests.support.services import REDIS_URL

NOW = dt.datetime(2026, 11, 25, 9, 0, 10, tzinfo=dt.UTC)


@pytest.fixture
def people(app: Flask) -> Iterator[dict[str, f.Person]]:
    # Built in an app context that is closed before the test: requests must each get
    # their own (as under gunicorn), or Flask-Login's per-context user would carry over.
    with app.app_context():
        inst = f.institution()
        made = {
            "referrer": f.person(Role.REFERRER, inst),
            "pathologist": f.person(Role.PATHOLOGIST, inst),
            "admin": f.person(Role.ADMIN, inst),
        }
        db.session.remove()
    yield made


def _code(step_offset: int = 0, secret: str = f.TOTP_SECRET) -> str:
    return mfa.code_at(secret, mfa.current_step() + step_offset)


def _password_step(client, email: str, password: str = f.PASSWORD, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def _actions(app: Flask) -> list[tuple[str, int | None, str, str | None]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
        db.session.remove()
        return [(r.action, r.actor_id, r.outcome, r.object_type) for r in rows]


# --- The second factor ---------------------------------------------------------------


def test_first_sign_in_enrols_the_authenticator_with_a_qr_code_and_a_confirming_code(app, people):
    with app.app_context():
        user = db.session.get(User, people["pathologist"].id)
        user.totp_secret = None  # type: ignore[union-attr]
        db.session.commit()
        db.session.remove()
    client = app.test_client()
    assert _password_step(client, people["pathologist"].email).headers["Location"] == (
        "/login/enrol"
    )
    page = client.get("/login/enrol")
    assert page.status_code == 200
    uri = unquote(re.search(r'id="otpauth-uri" href="([^"]+)"', page.text).group(1))
    assert uri.startswith("otpauth://totp/")
    secret = parse_qs(urlsplit(uri).query)["secret"][0]
    assert "<svg" in page.text and 'class="segno"' in page.text
    assert secret in page.text  # for typing in by hand
    assert client.get("/cases").status_code == 302  # not signed in yet
    wrong = client.post("/login/enrol", data={"code": "000000"})
    assert wrong.status_code == 401
    assert client.get("/login/enrol").text.count(secret) >= 1  # the same secret again
    done = client.post("/login/enrol", data={"code": _code(secret=secret)})
    assert done.status_code == 302 and done.headers["Location"] == "/assignments"
    with app.app_context():
        user = db.session.get(User, people["pathologist"].id)
        assert user.totp_secret == secret and user.totp_enrolled_at is not None  # type: ignore[union-attr]
        db.session.remove()
    assert ("mfa_enrolled", people["pathologist"].id, "ok", "user") in _actions(app)


@pytest.mark.parametrize("who", ["referrer", "pathologist", "admin"])
def test_every_role_is_asked_for_a_code_after_the_password(app, people, who):
    client = app.test_client()
    response = _password_step(client, people[who].email)
    assert response.status_code == 303 and response.headers["Location"] == "/login/code"
    assert client.get("/inbox").status_code == 302
    assert client.post("/login/code", data={"code": "123 45"}).status_code == 401
    assert client.post("/login/code", data={"code": _code()}).status_code == 302
    assert client.get("/inbox").status_code == 200


def test_a_code_works_once_and_an_older_one_is_refused_after_a_newer(app, people):
    email = people["referrer"].email
    with time_machine.travel(NOW, tick=False):
        first = app.test_client()
        _password_step(first, email)
        assert first.post("/login/code", data={"code": _code(0)}).status_code == 302
        replay = app.test_client()
        _password_step(replay, email)
        assert replay.post("/login/code", data={"code": _code(0)}).status_code == 401
        assert replay.post("/login/code", data={"code": _code(-1)}).status_code == 401
        assert replay.post("/login/code", data={"code": _code(+2)}).status_code == 401
        assert replay.post("/login/code", data={"code": _code(+1)}).status_code == 302
    denied = [a for a in _actions(app) if a[0] == "login_failed"]
    assert denied == [("login_failed", people["referrer"].id, "denied", "totp")] * 3


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-2, False), (-1, True), (0, True), (1, True), (2, False)]
)
def test_codes_are_accepted_one_step_either_side_of_now(offset, accepted):
    now = NOW.timestamp()
    step = mfa.current_step(now) + offset
    code = mfa.code_at(f.TOTP_SECRET, step)
    result = mfa.accepted_step(f.TOTP_SECRET, code, last_step=None, now=now)
    assert (result == step) is accepted


def test_the_password_step_expires_after_five_minutes(app, people):
    with time_machine.travel(NOW, tick=False) as clock:
        client = app.test_client()
        _password_step(client, people["referrer"].email)
        clock.shift(dt.timedelta(minutes=5, seconds=1))
        late = client.post("/login/code", data={"code": _code()})
        assert late.status_code == 303 and late.headers["Location"] == "/login"


def test_the_api_token_needs_the_code_of_an_account_with_a_second_factor(client, people):
    email = people["referrer"].email
    body = {"username": email, "password": f.PASSWORD}
    no_code = client.post("/api/v1/auth/token", json=body)
    wrong = client.post("/api/v1/auth/token", json={**body, "otp": "000000"})
    assert no_code.status_code == wrong.status_code == 401
    ok = client.post("/api/v1/auth/token", json={**body, "otp": f.otp(email)})
    assert ok.status_code == 200 and ok.get_json()["token"]


def test_demo_accounts_alone_skip_the_second_factor(app):
    from board.demo_seed import ACCOUNTS, seed

    with app.app_context():
        seed("demo-password-for-tests")
        exempt = set(db.session.scalars(select(User.email).where(User.mfa_exempt)))
        db.session.remove()
    assert exempt == {email for email, *_ in ACCOUNTS}
    client = app.test_client()
    response = _password_step(client, "coordinator@demo.test", "demo-password-for-tests")
    assert response.status_code == 302 and response.headers["Location"] == "/board"
    token = app.test_client().post(
        "/api/v1/auth/token",
        json={"username": "admin@demo.test", "password": "demo-password-for-tests"},
    )
    assert token.status_code == 200


def test_accounts_made_by_the_app_are_not_exempt(app):
    with app.app_context():
        inst = f.institution()
        user = auth.create_user(
            email="new@example.test",
            name="New",
            role=Role.REFERRER,
            institution=inst,
            password="a long enough passphrase",
        )
        db.session.commit()
        assert user.mfa_exempt is False and auth.mfa_required(user)
        db.session.remove()


# --- Identical answers, auditing ------------------------------------------------------


def _mask(html: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', 'name="csrf_token" value=""', html)


def test_an_unknown_email_and_a_wrong_password_get_the_same_answer_and_cost(
    app, people, monkeypatch
):
    with app.app_context():
        inactive = f.user(Role.REFERRER, email="gone@example.test")
        inactive.active = False
        db.session.commit()
        db.session.remove()
    verifications: list[str] = []
    original = PasswordHasher.verify

    def counting(self, hash, password):  # type: ignore[no-untyped-def]
        verifications.append(hash)
        return original(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    answers = {}
    for label, email, password in [
        ("unknown", "nobody@example.test", f.PASSWORD),
        ("wrong password", people["referrer"].email, "not the password at all"),
        ("inactive", "gone@example.test", f.PASSWORD),
    ]:
        verifications.clear()
        response = app.test_client().post("/login", data={"email": email, "password": password})
        answers[label] = (response.status_code, _mask(response.text).replace(email, "EMAIL"))
        # One argon2id verification each, against a hash of the configured parameters.
        assert len(verifications) == 1, label
        assert "$m=19456,t=2,p=1$" in verifications[0], label
    assert answers["unknown"] == answers["wrong password"] == answers["inactive"]
    assert answers["unknown"][0] == 401
    api = {
        label: app.test_client().post(
            "/api/v1/auth/token", json={"username": email, "password": password, "otp": "1"}
        )
        for label, email, password in [
            ("unknown", "nobody@example.test", f.PASSWORD),
            ("wrong password", people["referrer"].email, "not the password at all"),
            ("no code", people["referrer"].email, f.PASSWORD),
        ]
    }
    assert len({(r.status_code, r.get_data()) for r in api.values()}) == 1
    assert api["unknown"].status_code == 401


def test_failed_sign_ins_are_audited(app, people):
    _password_step(app.test_client(), "nobody@example.test")
    _password_step(app.test_client(), people["referrer"].email, "wrong wrong wrong")
    assert _actions(app) == [
        ("login_failed", None, "denied", None),
        # A known account is named as the object of its failed sign-in (the audit trail).
        ("login_failed", people["referrer"].id, "denied", "user"),
    ]
    sign_in(app.test_client(), people["referrer"].email)
    assert _actions(app)[-1] == ("login", people["referrer"].id, "ok", "user")


# --- Throttling ------------------------------------------------------------------------


def test_five_failures_lock_the_account_for_every_address(app, people):
    email = people["referrer"].email
    for n in range(5):
        client = app.test_client()
        address = {"REMOTE_ADDR": f"10.0.0.{n + 1}"}
        assert _password_step(client, email, "wrong", environ_base=address).status_code == 401
    locked = _password_step(app.test_client(), email, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert locked.status_code == 429  # even with the right password
    api = app.test_client().post(
        "/api/v1/auth/token", json={"username": email, "password": f.PASSWORD, "otp": f.otp(email)}
    )
    assert api.status_code == 429
    # Another account is not affected.
    assert sign_in(app.test_client(), people["admin"].email).status_code == 302
    assert ("login_failed", people["referrer"].id, "throttled", None) in _actions(app)
    # Counted in Redis, where every gunicorn worker sees the same number.
    assert int(redis.Redis.from_url(REDIS_URL).get(throttle.account_key(email))) == 5


def test_wrong_codes_count_towards_the_account_lock(app, people):
    email = people["referrer"].email
    client = app.test_client()
    _password_step(client, email)
    for _ in range(5):
        assert client.post("/login/code", data={"code": "000000"}).status_code == 401
    assert client.post("/login/code", data={"code": _code()}).status_code == 429


def test_the_lock_opens_when_the_window_ends(app, people, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_WINDOW_SECONDS", 1)
    email = people["referrer"].email
    for _ in range(5):
        _password_step(app.test_client(), email, "wrong")
    assert _password_step(app.test_client(), email).status_code == 429
    import time

    time.sleep(2.1)  # Redis expires the counter in real time
    assert sign_in(app.test_client(), email).status_code == 302


def test_failures_from_one_address_lock_that_address_whatever_the_email(app, people):
    address = {"REMOTE_ADDR": "192.0.2.7"}
    for n in range(30):
        _password_step(app.test_client(), f"guess{n}@example.test", "x", environ_base=address)
    blocked = _password_step(app.test_client(), people["referrer"].email, environ_base=address)
    assert blocked.status_code == 429
    elsewhere = _password_step(
        app.test_client(), people["referrer"].email, environ_base={"REMOTE_ADDR": "192.0.2.8"}
    )
    assert elsewhere.status_code == 303


def test_a_forged_x_forwarded_for_does_not_escape_the_address_limit(app, people):
    """With no proxy configured (PROXY_X_FOR=0) the header is ignored altogether."""
    assert app.config["PROXY_X_FOR"] == 0
    for n in range(30):
        _password_step(
            app.test_client(),
            f"guess{n}@example.test",
            "x",
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )
    forged = _password_step(
        app.test_client(), people["referrer"].email, headers={"X-Forwarded-For": "198.51.100.1"}
    )
    assert forged.status_code == 429


def test_behind_one_proxy_only_the_address_the_proxy_saw_counts(app, people):
    from board import create_app
    from tests.support.services import DATABASE_URL

    proxied = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "CELERY": {"broker_url": REDIS_URL},
            "LOGIN_THROTTLE_REDIS_URL": REDIS_URL,
            "PROXY_X_FOR": 1,
        }
    )
    app.extensions["celery"].set_default()
    proxy = {"REMOTE_ADDR": "10.1.1.1"}  # every request arrives from the proxy
    for n in range(30):
        # The client forges a different first hop each time; the proxy appends the
        # address it saw (198.51.100.9), which is the one ProxyFix trusts.
        _password_step(
            proxied.test_client(),
            f"guess{n}@example.test",
            "x",
            environ_base=proxy,
            headers={"X-Forwarded-For": f"203.0.113.{n}, 198.51.100.9"},
        )
    same_client = _password_step(
        proxied.test_client(),
        people["referrer"].email,
        environ_base=proxy,
        headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.9"},
    )
    assert same_client.status_code == 429
    other_client = _password_step(
        proxied.test_client(),
        people["referrer"].email,
        environ_base=proxy,
        headers={"X-Forwarded-For": "198.51.100.10"},
    )
    assert other_client.status_code == 303
    with proxied.app_context():
        db.session.remove()
        db.engine.dispose()


def test_with_redis_down_the_limit_holds_in_each_process(app, people, monkeypatch, caplog):
    monkeypatch.setitem(app.config, "LOGIN_THROTTLE_REDIS_URL", "redis://127.0.0.1:1/0")
    # Alembic's logging setup (run by the app fixture) disables loggers made before it.
    monkeypatch.setattr(throttle.log, "disabled", False)
    email = people["referrer"].email
    for _ in range(5):
        assert _password_step(app.test_client(), email, "wrong").status_code == 401
    assert _password_step(app.test_client(), email).status_code == 429  # not open
    assert sign_in(app.test_client(), people["admin"].email).status_code == 302  # not closed
    assert "Redis unavailable" in caplog.text


# --- Passwords ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("seven77", "at least 8 characters"),
        ("", "at least 8 characters"),
        ("12345678", "most common passwords"),
        ("password1", "most common passwords"),
        ("PASSWORD1", "most common passwords"),  # case does not rescue a common one
        ("iloveyou", "most common passwords"),
        ("referrer@example.test", "not be your email"),
        ("x" * 257, "at most 256"),
        ("tumorboardreview", None),  # lower-case letters only: no composition rules
        ("k3#Lm9!q", None),  # eight characters suffice
        ("correct horse battery staple", None),  # spaces allowed
        ("pässwörter für alle", None),  # any Unicode
        ("x" * 256, None),
    ],
)
def test_password_rules(password, problem):
    problems = passwords.password_problems(password, email="referrer@example.test")
    if problem is None:
        assert problems == []
    else:
        assert any(problem in p for p in problems), problems


def test_the_common_password_list_is_shipped_with_its_source():
    text = passwords._LIST.read_text()
    assert "zxcvbn" in text.splitlines()[2] and "MIT" in text.splitlines()[3]
    assert len(passwords.common_passwords()) > 10_000
    assert all(len(p) >= 8 for p in passwords.common_passwords())


def test_passwords_are_checked_wherever_they_are_set(app, people):
    with app.app_context():
        with pytest.raises(InvalidInput):
            auth.create_user(
                email="weak@example.test",
                name="Weak",
                role=Role.REFERRER,
                institution=f.institution(),
                password="password123",
            )
        db.session.rollback()
        from board.demo_seed import seed

        with pytest.raises(InvalidInput):
            seed("qwertyuiop")
        db.session.rollback()
        db.session.remove()
    client = app.test_client()
    sign_in(client, people["referrer"].email)
    refused = client.post(
        "/account/password",
        data={
            "current_password": f.PASSWORD,
            "new_password": "baseball1",
            "confirm_password": "baseball1",
        },
    )
    assert refused.status_code == 422 and "most common passwords" in refused.text
    mismatch = client.post(
        "/account/password",
        data={
            "current_password": "wrong",
            "new_password": "a perfectly good passphrase",
            "confirm_password": "a different passphrase",
        },
    )
    assert mismatch.status_code == 422
    assert "is not your current password" in mismatch.text
    assert "does not match the new password" in mismatch.text


def test_passwords_are_hashed_with_argon2id_at_owasp_parameters_and_rehashed_on_sign_in(
    app, people
):
    old = PasswordHasher(time_cost=3, memory_cost=65536, parallelism=4).hash(f.PASSWORD)
    with app.app_context():
        user = db.session.get(User, people["referrer"].id)
        user.password_hash = old  # type: ignore[union-attr]
        db.session.commit()
        db.session.remove()
    assert sign_in(app.test_client(), people["referrer"].email).status_code == 302
    with app.app_context():
        new = db.session.get(User, people["referrer"].id).password_hash  # type: ignore[union-attr]
        db.session.remove()
    assert new != old and new.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert sign_in(app.test_client(), people["referrer"].email).status_code == 302
