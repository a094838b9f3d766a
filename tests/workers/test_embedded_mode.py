"""The embedded `make run` default, end to end: SQLite in a file, Celery's in-memory
broker inside a thread-pool worker, gunicorn, an SMTP server. The outbox table is
the only durable queue, so a worker that dies loses nothing and a new one doubles
nothing."""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery import _state as celery_state
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from board.auth.roles import Role
from tests.support import factories as f
from tests.support.processes import (
    BIN,
    ROOT,
    MailSink,
    Proc,
    mail_sink,
    service_env,
    start_web,
    start_worker,
    wait_until,
)
from tests.workers.conftest import Http

ROUTE = "routing.route_case"


@dataclass
class Embedded:
    base_url: str
    env: dict[str, str]
    engine: Engine
    mail: MailSink
    logs: Path
    referrer: str
    pathologist_id: int
    oncologist_id: int

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def assignments(self, case_id: int) -> list[tuple[int, int, str, str]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT id, reviewer_id, specialty, status FROM assignments "
                    "WHERE case_id = :c ORDER BY id"
                ),
                {"c": case_id},
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    def routing_rows(self, case_id: int) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT status, attempts FROM outbox_messages WHERE task = :t "
                    "AND json_extract(payload, '$.case_id') = :c"
                ),
                {"t": ROUTE, "c": case_id},
            )
            return [tuple(r) for r in rows]  # type: ignore[misc]

    def worker(self, name: str, **extra_env: str) -> Proc:
        # The pool `make run` uses (board/launch.py): threads share the in-memory broker.
        return start_worker(
            {**self.env, **extra_env}, self.logs, name=name, pool="threads", concurrency=4
        )


@contextmanager
def _accounts_app(database_url: str) -> Iterator[None]:
    """This process, on the embedded database, to create accounts through the real
    services. Building an app makes its Celery the default: put the old one back."""
    from board import create_app
    from board.extensions import db

    default, current = celery_state.default_app, getattr(celery_state._tls, "current_app", None)
    try:
        with create_app({"SQLALCHEMY_DATABASE_URI": database_url}).app_context():
            yield
            db.session.remove()
            db.engine.dispose()
    finally:
        celery_state.set_default_app(default)
        celery_state._set_current_app(current)


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Embedded]:
    home = tmp_path_factory.mktemp("embedded")
    database_url = f"sqlite:///{home / 'board.sqlite'}"
    with mail_sink() as mail:
        # No REDIS_URL: the config falls back to the memory:// broker, as `make run` does.
        env = service_env(mail_port=mail.port, database_url=database_url, redis_url=None)
        assert "REDIS_URL" not in env
        migrated = subprocess.run(
            [str(BIN / "flask"), "--app", "board", "db", "upgrade"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stderr

        with _accounts_app(database_url):
            here = f.institution("Community Hospital")
            away = f.institution("University Breast Center")
            referrer = f.user(Role.REFERRER, here)
            f.user(Role.PATHOLOGIST, here)  # a colleague: never eligible
            pathologist = f.user(Role.PATHOLOGIST, away)
            oncologist = f.user(Role.MEDICAL_ONCOLOGIST, away)
            f.user(Role.COORDINATOR, away)
            people = (referrer.email, pathologist.id, oncologist.id)

        web, base_url = start_web(env, home)
        engine = create_engine(database_url)
        try:
            yield Embedded(base_url, env, engine, mail, home, *people)
        finally:
            web.stop()
            engine.dispose()


def _submit(api: Http, case_id: int) -> float:
    """Submits over HTTP; returns the moment the 202 arrived."""
    response = api.post(f"/cases/{case_id}/submit")
    assert response.status_code == 202, response.text
    return time.monotonic()


def test_embedded_mode_routes_a_case_within_two_seconds_and_survives_a_killed_worker(
    embedded: Embedded,
) -> None:
    referrer = Http(embedded.base_url, embedded.referrer)
    worker = embedded.worker("worker-1")
    try:
        first = referrer.complete_draft(requested_specialties=["medical_oncology"])
        answered = _submit(referrer, first)
        wait_until(
            lambda: len(embedded.assignments(first)) == 2,
            timeout=10,
            interval=0.01,
            what="the first case's two assignments",
        )
        latency = time.monotonic() - answered
        print(f"\nembedded mode: submit-to-routed {latency:.2f} s")
        assert latency < 2.0
        first_assignments = embedded.assignments(first)
        assert {(r, s) for _, r, s, _ in first_assignments} == {
            (embedded.pathologist_id, "pathology"),
            (embedded.oncologist_id, "medical_oncology"),
        }
        wait_until(lambda: len(embedded.mail.messages) >= 2, what="the assignment emails")
    finally:
        worker.kill()
        worker.stop()

    # With no worker the submission is accepted and waits in the outbox table.
    second = referrer.complete_draft()
    _submit(referrer, second)
    assert embedded.routing_rows(second) == [("pending", 0)]

    worker = embedded.worker("worker-2")
    try:
        wait_until(
            lambda: embedded.assignments(second),
            timeout=15,
            what="the second case routed by the new worker",
        )
        wait_until(
            lambda: (
                embedded.scalar("SELECT count(*) FROM outbox_messages WHERE status <> 'done'") == 0
            ),
            timeout=15,
            what="every message done",
        )
    finally:
        worker.stop()

    assert [(r, s) for _, r, s, _ in embedded.assignments(second)] == [
        (embedded.pathologist_id, "pathology")
    ]
    assert embedded.assignments(first) == first_assignments
    assert embedded.routing_rows(first) == [("done", 1)]
    assert embedded.routing_rows(second) == [("done", 1)]
    assert referrer.get(f"/cases/{first}").json()["status"] == "in_review"
    assert referrer.get(f"/cases/{second}").json()["status"] == "in_review"


def test_embedded_mode_finishes_work_that_was_in_the_killed_workers_memory(
    embedded: Embedded,
) -> None:
    referrer = Http(embedded.base_url, embedded.referrer)

    # A worker killed the moment its relay has published a message into the broker
    # that lives in its own memory, before (or while) the task runs...
    worker = embedded.worker("worker-3")
    case_id = referrer.complete_draft(requested_specialties=["medical_oncology"])
    _submit(referrer, case_id)
    try:
        wait_until(
            lambda: embedded.routing_rows(case_id)[0][0] != "pending",
            timeout=10,
            interval=0.005,
            what="the relay to publish the message",
        )
    finally:
        worker.kill()
        worker.stop()
    at_kill = embedded.routing_rows(case_id)
    print(f"\nrouting message (status, attempts) at kill: {at_kill}")

    # ...and, for certain, a message published into that lost memory and never run.
    lost = referrer.complete_draft()
    _submit(referrer, lost)
    with embedded.engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE outbox_messages SET status = 'published', published_at = :now "
                "WHERE task = :t AND json_extract(payload, '$.case_id') = :c"
            ),
            # Naive UTC, as board.db.UTCDateTime stores it on SQLite.
            {"now": dt.datetime.now(dt.UTC).replace(tzinfo=None), "t": ROUTE, "c": lost},
        )
    assert embedded.routing_rows(lost) == [("published", 0)]

    # The sweeper's usual delay is set out of reach: only the requeue that a worker on
    # the in-memory broker does at start can bring these messages back.
    worker = embedded.worker("worker-4", FLASK_OUTBOX_REDELIVER_AFTER_SECONDS="3600")
    try:
        started = time.monotonic()
        wait_until(
            lambda: len(embedded.assignments(case_id)) == 2 and embedded.assignments(lost),
            timeout=10,
            interval=0.05,
            what="both cases routed after the restart",
        )
        print(f"both routed {time.monotonic() - started:.2f} s after the new worker was ready")
    finally:
        worker.stop()

    assert sorted(s for _, _, s, _ in embedded.assignments(case_id)) == [
        "medical_oncology",
        "pathology",
    ]
    assert [s for _, _, s, _ in embedded.assignments(lost)] == ["pathology"]
    assert [status for status, _ in embedded.routing_rows(case_id)] == ["done"]
    assert embedded.routing_rows(lost) == [("done", 1)]
