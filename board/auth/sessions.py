"""Server-side browser sessions in the database.

The cookie carries only a random id (256 bits); the session's contents live in the
`web_sessions` row keyed by the id's SHA-256, serialised as JSON (never pickle). Why the
database and not Redis: a Redis outage must neither sign anybody out nor lose the CSRF
token of a half-filled form, and the database is what the board cannot run without
anyway.

- Idle timeout (SESSION_IDLE_MINUTES, 15) and absolute lifetime (SESSION_ABSOLUTE_HOURS,
  12, counted from the row's creation, i.e. from sign-in, because the id rotates there).
- `last_seen_at` is written at most once every SESSION_TOUCH_SECONDS (60) when nothing
  else in the session changed, so a page view is not a database write. The row is read in
  the request's own transaction (db.session), and a request that writes nothing opens no
  connection to save it: a page view costs the session one indexed SELECT, no more. The price: a
  session idles out between IDLE - 1 min and IDLE after the last request.
- `rotate_session()` gives the session a new id (old row deleted): at sign-in, at MFA
  completion and at sign-out, so a cookie captured before any of them is worthless.
- `end_sessions_of(user_id)` revokes every session of an account (password change,
  MFA reset): revocation is immediate because every request reads the row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from contextlib import ExitStack
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import Connection, Executable, delete, insert, select, update
from werkzeug.datastructures import CallbackDict

from board.auth.models import User, WebSession
from board.db import utcnow
from board.extensions import db

_table = WebSession.__table__


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        last_seen: dt.datetime | None = None,
        had_cookie: bool = False,
        ended: bool = False,
        skip: bool = False,
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial, on_update)
        self.token = token
        self.last_seen = last_seen
        self.had_cookie = had_cookie
        # The request's cookie named a session that had expired (idle or absolute).
        self.ended = ended
        self.skip = skip  # static files: no database round trip
        self.account: User | None = None  # the session's account, loaded with its row
        self.modified = False
        self.rotate_to_new_id = False
        self.new = token is None

    def rotate(self) -> None:
        self.rotate_to_new_id = True
        self.modified = True


def rotate_session() -> None:
    """A new session id for the same contents (the old row is deleted on save)."""
    from flask import session

    if isinstance(session, ServerSession):
        session.rotate()


def end_sessions_of(user_id: int, *, keep_current: bool = False) -> None:
    """Deletes every session row of an account (runs in its own transaction)."""
    from flask import has_request_context, session

    statement = delete(_table).where(_table.c.user_id == user_id)
    if (
        keep_current
        and has_request_context()
        and isinstance(session, ServerSession)
        and session.token is not None
    ):
        statement = statement.where(_table.c.id != _digest(session.token))
    with db.engine.begin() as conn:
        conn.execute(statement)


def _limits(app: Flask) -> tuple[dt.timedelta, dt.timedelta, dt.timedelta]:
    return (
        dt.timedelta(minutes=float(app.config["SESSION_IDLE_MINUTES"])),
        dt.timedelta(hours=float(app.config["SESSION_ABSOLUTE_HOURS"])),
        dt.timedelta(seconds=float(app.config["SESSION_TOUCH_SECONDS"])),
    )


def _user_id(data: dict[str, Any]) -> int | None:
    value = data.get("_user_id")  # Flask-Login's key
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


class _Writes(ExitStack):
    """A transaction of its own for the session row, begun at its first statement: most
    requests write nothing (the "last seen" write is throttled), and then no connection
    is checked out, pinged, begun and committed for nothing."""

    _conn: Connection | None = None

    def execute(self, statement: Executable) -> None:
        if self._conn is None:
            self._conn = self.enter_context(db.engine.begin())
        self._conn.execute(statement)


class DatabaseSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> ServerSession:
        name = self.get_cookie_name(app)
        token = request.cookies.get(name)
        if app.static_url_path and request.path.startswith(f"{app.static_url_path}/"):
            return ServerSession(skip=True)
        if not token:
            return ServerSession()
        # Read in the request's own transaction (db.session): the connection the view
        # uses next, so no second checkout, ping and BEGIN for every request. The
        # account comes in the same round trip, into the session's identity map, where
        # Flask-Login's user loader (board/auth/views.py load_user) finds it without a
        # query of its own; it still checks that the account is active.
        row = db.session.execute(
            select(_table.c.data, _table.c.created_at, _table.c.last_seen_at, User)
            .outerjoin(User, User.id == _table.c.user_id)
            .where(_table.c.id == _digest(token))
        ).first()
        if row is None:
            return ServerSession(had_cookie=True)
        idle, absolute, _ = _limits(app)
        now = utcnow()
        if now - row.last_seen_at > idle or now - row.created_at > absolute:
            with db.engine.begin() as conn:
                conn.execute(delete(_table).where(_table.c.id == _digest(token)))
            return ServerSession(had_cookie=True, ended=True)
        server_session = ServerSession(
            json.loads(row.data), token=token, last_seen=row.last_seen_at
        )
        # Held for the request: the identity map keeps only what something references.
        server_session.account = row.User
        return server_session

    def save_session(  # type: ignore[override]
        self, app: Flask, session: ServerSession, response: Response
    ) -> None:
        if session.skip:
            return
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        now = utcnow()
        idle, _, touch = _limits(app)
        with _Writes() as conn:
            if session.rotate_to_new_id and session.token is not None:
                conn.execute(delete(_table).where(_table.c.id == _digest(session.token)))
                session.token = None
                # Rotation happens at sign-in and sign-out: a good moment to sweep the
                # rows nobody will come back for (one indexed delete).
                conn.execute(delete(_table).where(_table.c.last_seen_at < now - idle))
            if not session:
                if session.token is not None:
                    conn.execute(delete(_table).where(_table.c.id == _digest(session.token)))
                if session.token is not None or session.had_cookie:
                    response.delete_cookie(name, domain=domain, path=path)
                return
            data = json.dumps(dict(session), separators=(",", ":"))
            if session.token is None:
                token = secrets.token_urlsafe(32)
                conn.execute(
                    insert(_table).values(
                        id=_digest(token),
                        user_id=_user_id(session),
                        data=data,
                        created_at=now,
                        last_seen_at=now,
                    )
                )
                session.token = token
                response.set_cookie(
                    name,
                    token,
                    domain=domain,
                    path=path,
                    httponly=self.get_cookie_httponly(app),
                    secure=self.get_cookie_secure(app),
                    samesite=self.get_cookie_samesite(app),
                )
                response.vary.add("Cookie")
                return
            where = _table.c.id == _digest(session.token)
            if session.modified:
                conn.execute(
                    update(_table)
                    .where(where)
                    .values(data=data, user_id=_user_id(session), last_seen_at=now)
                )
            elif session.last_seen is None or now - session.last_seen >= touch:
                # Throttled: at most one "last seen" write per SESSION_TOUCH_SECONDS.
                conn.execute(update(_table).where(where).values(last_seen_at=now))
