"""Redis being down delays work; it never loses a submission or shows a 500.

The test runs a Redis of its own on a free port (never the machine's Redis on
6379), a gunicorn web server and a real worker on it, takes that Redis away,
submits a case over HTTP, and brings Redis back on the same port. Two ways to be
down: stopped (connections refused, and the restarted Redis is empty) and frozen
(SIGSTOP: connections hang, as with a hung host or a network dropping packets;
only the broker's socket timeouts keep a request from waiting for ever)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from flask import Flask

from board.auth.roles import Role
from tests.support import factories as f
from tests.support.processes import (
    OwnRedis,
    mail_sink,
    service_env,
    start_web,
    start_worker,
    wait_until,
)
from tests.workers.conftest import Http, build_world, scalar


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_a_case_submitted_while_redis_is_down_is_accepted_and_routed_once_redis_is_back(
    app: Flask, ctx: None, own_redis: OwnRedis, logs: Path, outage: str
) -> None:
    world = build_world(pathologists=1, oncologists=1)
    other_referrer = f.user(Role.REFERRER, world.referrer.institution)
    with mail_sink() as mail:
        env = service_env(mail_port=mail.port, redis_url=own_redis.url)
        web, base = start_web(env, logs)
        worker = start_worker(env, logs)
        try:
            referrer = Http(base, world.referrer.email)
            case_id = referrer.complete_draft()

            if outage == "stopped":
                own_redis.stop()
            else:
                own_redis.freeze()

            started = time.monotonic()
            submitted = referrer.post(f"/cases/{case_id}/submit")
            submit_seconds = time.monotonic() - started
            assert submitted.status_code == 202, submitted.text
            assert submitted.json()["status"] == "submitted"

            started = time.monotonic()
            health = requests.get(f"{base}/api/v1/health", timeout=30)
            health_seconds = time.monotonic() - started
            assert (health.status_code, health.json()) == (
                200,
                {"database": "ok", "broker": "down"},
            )

            # Signing in and reading need no broker: tokens live in the database.
            colleague = Http(base, other_referrer.email)
            assert colleague.get("/cases").status_code == 200
            (listed,) = referrer.get("/cases").json()["cases"]
            assert (listed["id"], listed["status"]) == (case_id, "submitted")
            print(
                f"\nwith Redis {outage}: submit answered in {submit_seconds:.2f} s, "
                f"health in {health_seconds:.2f} s"
            )
            assert submit_seconds < 5, "a submit must not hang while the broker is down"

            # Nothing can be published meanwhile: the message waits in the outbox.
            assert (
                scalar("SELECT status FROM outbox_messages WHERE task = 'routing.route_case'")
                == "pending"
            )
            assert scalar("SELECT count(*) FROM assignments") == 0

            if outage == "stopped":
                own_redis.start()
            else:
                own_redis.thaw()
            restarted = time.monotonic()
            wait_until(
                lambda: referrer.get(f"/cases/{case_id}").json()["status"] == "in_review",
                timeout=45,
                interval=0.2,
                what="the case to be routed after Redis is back",
            )
            print(f"routed {time.monotonic() - restarted:.1f} s after Redis came back")
            wait_until(lambda: mail.messages, timeout=30, what="the assignment email")
        finally:
            worker.stop()
            web.stop()

    # No request failed on the server side either: nothing unhandled in the web log.
    assert "Traceback" not in web.output(), web.output()
    assert scalar("SELECT count(*) FROM assignments WHERE case_id = :c", c=case_id) == 1
    assert scalar("SELECT count(*) FROM outbox_messages WHERE task = 'routing.route_case'") == 1
    assert scalar("SELECT status FROM outbox_messages WHERE task = 'routing.route_case'") == "done"
    (email,) = mail.messages
    assert email["Subject"] == f"New review assignment (case #{case_id})"
