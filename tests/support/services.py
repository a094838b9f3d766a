"""Where the test suite finds PostgreSQL, Redis and free ports. A missing service is
a failure, never a skip: a skipped test proves nothing."""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import tempfile
from pathlib import Path

import pytest
import redis
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

DATABASE_URL = os.environ.get(
    "TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Database 15 keeps the tests' queues away from a developer's `make run` on database 0.
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# Record files of this test database, in a folder of their own (emptied after each
# test like the tables), and a fixed test key; spawned web and worker processes get both
# (tests/support/processes.py service_env).
RECORDS_DIR = Path(tempfile.gettempdir()) / "board-test-records" / make_url(DATABASE_URL).database
RECORDS_KEY = base64.b64encode(hashlib.sha256(b"board test records key").digest()).decode()


def require_services() -> None:
    problems = []
    try:
        engine = create_engine(DATABASE_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:
        problems.append(f"PostgreSQL at {DATABASE_URL}: {exc.__class__.__name__}: {exc}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        problems.append(f"Redis at {REDIS_URL}: {exc}")
    if problems:
        pytest.exit(
            "The test suite needs PostgreSQL and Redis (see README, 'Tests'):\n  "
            + "\n  ".join(problems),
            returncode=3,
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


APPEND_ONLY = ("audit_events", "audit_chain")


def truncate(conn: Connection, table_names: list[str], *, restart_identity: bool) -> None:
    """Empties the tables as their owner. The audit trail and its chain are append-only:
    their triggers refuse TRUNCATE, for the application too, so the suite switches them
    off by name for this transaction only (DDL is transactional: they are back on at
    COMMIT)."""
    restart = " RESTART IDENTITY" if restart_identity else ""
    for table in APPEND_ONLY:
        conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER {table}_no_truncate"))
    conn.execute(text(f"TRUNCATE {', '.join(table_names)}{restart} CASCADE"))
    for table in APPEND_ONLY:
        conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER {table}_no_truncate"))
