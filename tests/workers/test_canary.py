"""A canary patient name through the whole flow, on gunicorn (with its access log), a
real Celery worker (at DEBUG), Redis, PostgreSQL and SMTP: the name is in the case,
its question, the reviewers' and the board's free text, the record's file name and the
record's PDF text. It must never appear in the processes' logs, in any task message
(the outbox payloads and every message in Redis, decoded), in any email, anywhere in
the test Redis database, nor in this process's log records at DEBUG.

Each place is first shown to hold what it is searched for (a routing message with its
case id, log lines naming the routes and tasks, the emails), so no check passes by
looking at nothing."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import text

from board.auth.roles import Role
from board.extensions import db
from tests.support import factories as f
from tests.support.api import Api, HttpApi
from tests.support.processes import (
    mail_sink,
    service_env,
    start_web,
    start_worker,
    wait_until,
)

CANARY = "Zebulon Quixote-Canary"
CANARY_MRN = "ZQC-48151623"
NEEDLES = [CANARY.encode(), b"Quixote-Canary", CANARY_MRN.encode()]

pytestmark = pytest.mark.worker


def canary_case(**overrides: Any) -> dict[str, Any]:
    return f.case_body(
        patient={"name": CANARY, "birth_date": "1961-07-04", "mrn": CANARY_MRN, "sex": "female"},
        question=f"Does {CANARY} need a re-read of the HER2 status?",
        requested_specialties=["medical_oncology"],
        **overrides,
    )


def _values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key)
    if kind == b"string":
        return [client.get(key) or b""]
    if kind == b"list":
        return list(client.lrange(key, 0, -1))
    if kind == b"hash":
        return [b for pair in client.hgetall(key).items() for b in pair]
    if kind == b"set":
        return list(client.smembers(key))
    if kind == b"zset":
        return list(client.zrange(key, 0, -1))
    if kind == b"stream":
        return [repr(client.xrange(key)).encode()]
    return []


def _decoded(value: bytes) -> list[bytes]:
    """A value, and inside a kombu message envelope its base64 body (the task args)."""
    out = [value]
    try:
        envelope = json.loads(value)
    except ValueError:
        return out
    if isinstance(envelope, list) and envelope and isinstance(envelope[0], str):
        try:  # the "unacked" hash holds [message, exchange, routing key]
            envelope = json.loads(envelope[0])
        except ValueError:
            return out
    if isinstance(envelope, dict) and "body" in envelope:
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body).decode()
        out.append(body.encode())
    return out


def redis_snapshot(client: redis.Redis) -> list[bytes]:
    """Every key and every value of the test Redis database, message bodies decoded."""
    found: list[bytes] = []
    for key in client.scan_iter(count=1000):
        found.append(key)
        for value in _values(client, key):
            found += _decoded(value)
    return found


class RedisWatcher:
    """SCANs the whole database every few milliseconds while the flow runs."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.seen: list[bytes] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            self.seen += redis_snapshot(self.client)
            self.stop.wait(0.02)

    def __enter__(self) -> RedisWatcher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)


def _mail_text(message: Message) -> bytes:
    parts = [message.as_bytes()]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            parts.append(payload)
    return b"\n".join(parts)


def assert_no_canary(where: str, blobs: list[bytes]) -> None:
    for blob in blobs:
        for needle in NEEDLES:
            assert needle not in blob, f"the canary patient appears in {where}"


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def in_process_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    # Alembic's logging setup (migrations/env.py, run by the app fixture) disables the
    # loggers that existed then; every one is switched back on for this test.
    disabled = [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and logger.disabled
    ]
    for logger in disabled:
        logger.disabled = False
    caplog.set_level(logging.DEBUG)
    # SQLAlchemy's echo logs every bound parameter (patient data by design); it is off
    # in the board's configuration and must stay off, so it is not part of what is
    # checked here.
    engine_log = logging.getLogger("sqlalchemy.engine")
    engine_level = engine_log.level
    engine_log.setLevel(logging.WARNING)  # not caplog.set_level: that lowers its handler too
    yield caplog
    engine_log.setLevel(engine_level)
    for logger in disabled:
        logger.disabled = True


def test_a_canary_patient_never_reaches_logs_task_messages_emails_or_redis(
    app: Flask,
    broker: redis.Redis,
    logs: Path,
    in_process_logs: pytest.LogCaptureFixture,
) -> None:
    with app.app_context():
        home, away = f.institution("Riverside Oncology"), f.institution("University Center")
        referrer = f.person(Role.REFERRER, home)
        pathologist = f.person(Role.PATHOLOGIST, away)
        medonc = f.person(Role.MEDICAL_ONCOLOGIST, away)
        coordinator = f.person(Role.COORDINATOR, away)
    record_pdf = f.pdf(f"Surgical pathology of {CANARY}, MRN {CANARY_MRN}: grade 2 IDC")

    with mail_sink() as mail:
        env = service_env(mail_port=mail.port)
        web, base_url = start_web(env, logs, extra_args=["--access-logfile", "-"])
        worker = None
        try:
            api = HttpApi(base_url, referrer.email)
            created = api.post("/cases", canary_case())
            assert created.status_code == 201, created.text
            case_id = created.json()["id"]
            uploaded = api.upload(
                case_id, "pathology_report", record_pdf, f"{CANARY} pathology.pdf"
            )
            assert uploaded.status_code == 201, uploaded.text
            record_id = uploaded.json()["id"]
            assert api.get(f"/records/{record_id}").content == record_pdf
            assert api.post(f"/cases/{case_id}/submit").status_code == 202

            # No worker yet: the routing message waits in Redis, where it is read whole.
            queued = wait_until(
                lambda: [v for v in redis_snapshot(broker) if b'"case_id"' in v],
                what="the routing message in Redis",
            )
            assert any(f'"case_id": {case_id}'.encode() in v for v in queued), queued
            assert_no_canary("a queued task message", redis_snapshot(broker))

            with RedisWatcher(broker) as watcher:
                worker = start_worker(env, logs, extra_args=["--loglevel", "DEBUG"])
                case = wait_until(
                    lambda: (
                        (body := api.get(f"/cases/{case_id}").json())["status"] == "in_review"
                        and body
                    ),
                    timeout=30,
                    what="the worker to route the canary case",
                )
                assert {a["specialty"] for a in case["assignments"]} == {
                    "pathology",
                    "medical_oncology",
                }
                for email in (pathologist.email, medonc.email):
                    reviewer = HttpApi(base_url, email)
                    (assignment,) = reviewer.get("/assignments").json()["assignments"]
                    assert reviewer.get(f"/records/{record_id}").content == record_pdf
                    path = f"/assignments/{assignment['id']}"
                    assert reviewer.post(f"{path}/accept").status_code == 200
                    body = f.review_body(
                        diagnosis={
                            "verdict": "differ",
                            "severity": "major",
                            "rationale": f"{CANARY}'s slides read as grade 3.",
                            "alternative": {"histologic_type": "invasive_ductal", "grade": 3},
                        }
                    )
                    assert reviewer.post(f"{path}/review", body).status_code == 201

                board = HttpApi(base_url, coordinator.email)
                consensus = board.post(
                    f"/cases/{case_id}/consensus",
                    {
                        "summary": f"{CANARY}: grade 3 invasive ductal carcinoma.",
                        "diagnosis": {"histologic_type": "invasive_ductal", "grade": 3},
                        "recommendations": f"Discuss Oncotype DX with {CANARY}.",
                    },
                )
                assert consensus.status_code == 201, consensus.text
                assert board.post(f"/cases/{case_id}/release").status_code == 200
                opinion = api.get(f"/cases/{case_id}/second-opinion.pdf")
                assert opinion.status_code == 200
                assert api.post(f"/cases/{case_id}/acknowledge").status_code == 200

                # A second canary case made in this process (the in-process log
                # records), routed by the same worker through the outbox relay.
                local = Api(app.test_client(), referrer.email)
                second = local.post("/cases", canary_case()).get_json()["id"]
                assert local.upload(second, "pathology_report", record_pdf).status_code == 201
                assert local.post(f"/cases/{second}/submit").status_code == 202
                wait_until(
                    lambda: api.get(f"/cases/{second}").json()["status"] == "in_review",
                    timeout=30,
                    what="the worker to route the in-process case",
                )
                wait_until(
                    lambda: (
                        any(m["To"] == referrer.email for m in mail.messages)
                        and len(mail.messages) >= 5
                    ),
                    timeout=30,
                    what="the assignment and release emails",
                )
        finally:
            if worker is not None:
                worker.stop()
            web.stop()

    # Logs: what the processes wrote, which names the routes and the tasks.
    web_log, worker_log = web.output(), worker.output()
    assert f"POST /api/v1/cases/{case_id}/submit" in web_log
    assert "routing.route_case" in worker_log and "notifications.send_email" in worker_log
    assert_no_canary("the web server's log", [web_log.encode()])
    assert_no_canary("the worker's log", [worker_log.encode()])

    # Task arguments: every outbox payload, and every message Redis held.
    with app.app_context():
        with db.engine.connect() as conn:
            rows = conn.execute(text("SELECT task, payload FROM outbox_messages")).all()
        db.session.remove()
    tasks = {task for task, _ in rows}
    assert {"routing.route_case", "notifications.send_email"} <= tasks
    assert_no_canary("an outbox payload", [json.dumps(p).encode() for _, p in rows])
    assert any(b'"case_id"' in v for v in watcher.seen)
    assert_no_canary("Redis while the flow ran", watcher.seen)
    assert_no_canary("Redis after the flow", redis_snapshot(broker))

    # Emails: every message, headers and decoded bodies.
    assert len(mail.messages) >= 5
    assert_no_canary("an email", [_mail_text(m) for m in mail.messages])

    # This process's log records at DEBUG (the HTTP client's lines among them).
    records = in_process_logs.records
    assert records, "no log records captured: the check would prove nothing"
    assert_no_canary(
        "this process's log records",
        [
            (r.getMessage() + " " + repr(r.args) + " " + (r.exc_text or "")).encode()
            for r in records
        ],
    )
