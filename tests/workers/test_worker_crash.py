"""At-least-once delivery with a real Celery worker on PostgreSQL and Redis: a worker
killed in the middle of routing loses nothing and, once replaced, doubles nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select, update

from board.cases import services as cases
from board.cases.models import Case
from board.extensions import db
from board.notifications.models import Notification
from board.outbox.models import OutboxMessage, OutboxStatus
from board.reviews.models import Assignment
from board.routing import services as routing
from tests.support import factories as f
from tests.support.processes import (
    Proc,
    mail_sink,
    service_env,
    start_worker,
    wait_until,
    worker_command,
)
from tests.workers.conftest import (
    IN_FLIGHT,
    REQUESTS,
    World,
    assert_routed_once,
    build_world,
    complete_draft,
    routing_finished,
    scalar,
    submit_cases,
)
from workers.tasks import routing as routing_task

# The task as this process's app knows it (registered by the import above).
ROUTE = routing_task.route_case.name

CASES = 50


def test_a_worker_killed_mid_routing_loses_no_case_and_its_successor_doubles_nothing(
    app: Flask, ctx: None, broker: redis.Redis, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world()
    # The test process publishes right after each commit, as the web process does
    # with Redis: all 50 messages wait in the broker before any worker runs.
    monkeypatch.setitem(app.config, "OUTBOX_PUBLISH_ON_COMMIT", True)
    needed = submit_cases(world, CASES)
    assert scalar("SELECT count(*) FROM outbox_messages WHERE status = 'published'") == CASES
    assert broker.llen(app.config["CELERY"]["task_default_queue"]) == CASES

    with mail_sink() as mail:
        env = service_env(mail_port=mail.port)
        first = Proc("worker-1", worker_command(concurrency=2), env, logs)
        try:
            # Poll fast and kill the whole process group once the first case is routed
            # while another delivery has begun and not finished: mid-routing.
            wait_until(
                lambda: (
                    scalar("SELECT count(*) FROM assignments") > 0
                    and scalar(IN_FLIGHT, t=ROUTE) > 0
                ),
                timeout=60,
                interval=0.005,
                what="the first assignment",
            )
            first.kill()
        finally:
            first.stop()
        routed_at_kill = scalar("SELECT count(DISTINCT case_id) FROM assignments")
        in_flight = scalar(IN_FLIGHT, t=ROUTE)
        print(
            f"\nkilled worker-1 with {routed_at_kill}/{CASES} cases routed, "
            f"{in_flight} routing deliveries started and unfinished"
        )
        assert routed_at_kill < CASES // 2, "the kill came too late to be mid-routing"

        second = start_worker(env, logs, name="worker-2")
        try:
            started = time.monotonic()
            wait_until(
                lambda: routing_finished(CASES),
                timeout=60,
                interval=0.2,
                what="every case routed and every email sent by the new worker",
            )
            print(f"worker-2 finished the work in {time.monotonic() - started:.1f} s")
        finally:
            second.stop()

    print(assert_routed_once(world, needed, mail))


def _submitted_case(world: World, requested: list[str]) -> tuple[int, int]:
    case = complete_draft(world.referrer, requested, f.pdf())
    cases.submit(world.referrer, case.id)
    rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.task == ROUTE))
    (message,) = [m for m in rows if m.payload["case_id"] == case.id]
    return case.id, message.id


def _snapshot() -> tuple[list[tuple[int, int, str]], int, int]:
    db.session.expire_all()
    assignments = sorted(
        db.session.execute(
            select(Assignment.case_id, Assignment.reviewer_id, Assignment.specialty)
        ).tuples()
    )
    notes = db.session.scalar(select(db.func.count()).select_from(Notification))
    messages = db.session.scalar(select(db.func.count()).select_from(OutboxMessage))
    return assignments, notes, messages


def test_a_routing_delivery_repeated_by_hand_creates_nothing_twice(app: Flask, ctx: None) -> None:
    world = build_world()
    full = REQUESTS[2]

    # The service, called twice with the same message.
    case_id, outbox_id = _submitted_case(world, full)
    assert routing.route_case(case_id, outbox_id) is not None
    once = _snapshot()
    assert len([a for a in once[0] if a[0] == case_id]) == 3
    routing.route_case(case_id, outbox_id)
    assert _snapshot() == once

    # The Celery task, run twice in this process: the second delivery sees the
    # message done and does not even count an attempt.
    task = app.extensions["celery"].tasks[ROUTE]
    case_id, outbox_id = _submitted_case(world, full)
    task.apply(kwargs={"case_id": case_id, "outbox_id": outbox_id}).get()
    after_task = _snapshot()
    task.apply(kwargs={"case_id": case_id, "outbox_id": outbox_id}).get()
    assert _snapshot() == after_task
    # Without an outbox id (a delivery nobody can mark done) it is still harmless.
    task.apply(kwargs={"case_id": case_id}).get()
    assert _snapshot() == after_task
    message = db.session.get(OutboxMessage, outbox_id)
    assert (message.status, message.attempts) == (OutboxStatus.DONE, 1)
    assert len([a for a in after_task[0] if a[0] == case_id]) == 3


def test_two_deliveries_of_one_message_at_the_same_time_route_the_case_once(
    app: Flask, ctx: None
) -> None:
    world = build_world()
    case_id, outbox_id = _submitted_case(world, REQUESTS[2])
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            with app.app_context():
                start.wait()
                routing.route_case(case_id, outbox_id)
                db.session.remove()
        except BaseException as exc:  # surfaced below: a thread cannot fail the test
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assignments, notes, _ = _snapshot()
    assert sorted(s for c, _, s in assignments if c == case_id) == sorted(
        ["pathology", *REQUESTS[2]]
    )
    assert notes == 3


def test_a_message_delivered_more_than_the_maximum_times_is_parked_and_the_coordinator_told(
    app: Flask, ctx: None, broker: redis.Redis, logs: Path
) -> None:
    world = build_world()
    case_id, outbox_id = _submitted_case(world, [])
    limit = app.config["OUTBOX_MAX_ATTEMPTS"]
    # As if `limit` deliveries had each started and died with their worker.
    db.session.execute(
        update(OutboxMessage).where(OutboxMessage.id == outbox_id).values(attempts=limit)
    )
    db.session.commit()

    with mail_sink() as mail:
        worker = start_worker(service_env(mail_port=mail.port), logs)
        try:
            wait_until(
                lambda: any("background task" in m["Subject"] for m in mail.messages),
                timeout=30,
                what="the coordinator's email about the parked message",
            )
        finally:
            worker.stop()
    (email,) = mail.messages
    assert email["To"] == world.coordinator.email
    assert email["Subject"] == f"A background task needs attention (case #{case_id})"

    db.session.expire_all()
    message = db.session.get(OutboxMessage, outbox_id)
    assert (message.status, message.attempts) == (OutboxStatus.PARKED, limit + 1)
    assert f"parked after {limit} deliveries" in message.last_error
    (note,) = db.session.scalars(select(Notification)).all()
    assert (note.user_id, note.kind, note.case_id) == (world.coordinator.id, "task_parked", case_id)
    assert db.session.scalars(select(Assignment)).all() == []
    assert db.session.get(Case, case_id).status == "submitted"

    # Another delivery of a parked message does nothing, and the sweeper leaves it be.
    task = app.extensions["celery"].tasks[ROUTE]
    task.apply(kwargs={"case_id": case_id, "outbox_id": outbox_id}).get()
    db.session.expire_all()
    assert db.session.get(OutboxMessage, outbox_id).attempts == limit + 1
    assert db.session.scalars(select(Assignment)).all() == []
