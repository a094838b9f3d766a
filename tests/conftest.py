"""Shared fixtures: the app on the real PostgreSQL and Redis of this machine.

The schema comes from the migrations (never create_all). Each test starts from
empty tables: they are truncated after every test, because the worker and web
processes that some tests start must see committed data.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from tests.support.services import (
    DATABASE_URL,
    RECORDS_DIR,
    RECORDS_KEY,
    REDIS_URL,
    require_services,
    truncate,
)


def _reset_schema() -> None:
    engine = create_engine(DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    require_services()
    _reset_schema()
    from flask_migrate import upgrade

    from board import create_app

    application = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
            "SECRET_KEY": "test-secret",
            "WTF_CSRF_ENABLED": False,
            # Integration tests call the routing service directly; tests about the
            # worker start a real one (tests/workers, tests/e2e).
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "CELERY": {"broker_url": REDIS_URL},
            "MAIL_PORT": 1,  # nothing listens: a test that sends mail starts its own server
            "LOGIN_THROTTLE_REDIS_URL": REDIS_URL,
            "RECORDS_DIR": str(RECORDS_DIR),
            "RECORDS_KEY": RECORDS_KEY,
            # Most tests change the board and read the analytics back at once; the
            # cache of recent figures has its own test (tests/integration/test_analytics.py).
            "ANALYTICS_CACHE_SECONDS": 0,
        }
    )
    with application.app_context():
        upgrade()
    yield application


@pytest.fixture(autouse=True)
def _clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    application: Flask = request.getfixturevalue("app")
    from board.extensions import db

    with application.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            truncate(conn, [t.name for t in db.metadata.sorted_tables], restart_identity=True)
    shutil.rmtree(RECORDS_DIR, ignore_errors=True)
    _forget_login_failures()


def _forget_login_failures() -> None:
    """Failed sign-ins are counted in Redis for 15 minutes (board/auth/throttle.py): a
    test's failures must not throttle the next test's sign-ins."""
    import redis

    from board.auth import throttle

    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter("board:login-fail:*"))
    if keys:
        client.delete(*keys)
    client.close()
    throttle.reset_memory()


@pytest.fixture
def ctx(app: Flask) -> Iterator[None]:
    with app.app_context():
        yield
        from board.extensions import db

        db.session.remove()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[object]:
    """A real S3-compatible server (moto_server, a separate process) for this session."""
    from tests.support.s3 import S3Server

    server = S3Server()
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["filesystem", "s3"])
def stored(request: pytest.FixtureRequest, app: Flask) -> Iterator[object]:
    """Runs a test once per record store backend: the app's store is the file system
    (the suite's default) or an S3 bucket on a real S3-compatible server. Gives the test
    raw access to what the store holds (tests/support/s3.py RawStorage)."""
    from board.records import services as records
    from board.records.store import from_config
    from tests.support.s3 import FilesystemRaw, S3Raw

    if request.param == "filesystem":
        yield FilesystemRaw()
        return
    server = request.getfixturevalue("s3_server")
    before = app.extensions[records.EXTENSION]
    grace = app.config["RECORDS_ORPHAN_GRACE_SECONDS"]
    raw = S3Raw(server, app.config)
    raw.clear()
    app.extensions[records.EXTENSION] = dataclasses.replace(
        before, store=from_config({**app.config, **server.config()})
    )
    try:
        yield raw
    finally:
        app.extensions[records.EXTENSION] = before
        app.config["RECORDS_ORPHAN_GRACE_SECONDS"] = grace
        raw.clear()
