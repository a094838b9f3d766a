"""Delivery loses nothing under the faults the architecture promises to survive:
Redis stopped in the middle of 200 submissions, ten SIGKILLs of the worker while
200 cases route, a message lost between the commit and a worker, and a poison
task that kills whatever runs it.

Real PostgreSQL, Redis, gunicorn and Celery worker processes. Each test prints
its figures (`pytest -s`); the bounds it asserts are correctness bounds (no
request hangs, routing resumes within a minute), never a speed benchmark: that
is bench/routing.py.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import secrets
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import requests
from flask import Flask
from sqlalchemy import func, select

from board.extensions import db
from board.notifications.models import Notification
from board.outbox import services as outbox
from board.outbox.models import OutboxMessage, OutboxStatus
from board.reviews.models import Assignment
from tests.support import factories as f
from tests.support.poison import POISON_KILLS_ENV, POISON_LOG_ENV, POISON_TASK
from tests.support.processes import (
    OwnRedis,
    Proc,
    mail_sink,
    service_env,
    start_web,
    start_worker,
    wait_until,
    worker_command,
)
from tests.workers.conftest import (
    ROUTE,
    Http,
    assert_routed_once,
    build_world,
    complete_draft,
    draft_cases,
    routing_finished,
    scalar,
    submit_cases,
)

CASES = 200
# No request may take longer than this, whatever the broker does.
SUBMIT_BOUND_SECONDS = 5.0
# Redis stays down at least this long: long enough for the worker to lose its
# connection and back off, and for the relay to try and fail.
OUTAGE_AT_LEAST_SECONDS = 10.0
ROUTED_WITHIN_SECONDS = 60.0
KILLS = 10
# What service_env sets FLASK_OUTBOX_REDELIVER_AFTER_SECONDS to (the kill test sets its own).
REDELIVER_AFTER_SECONDS = 3


def _in_review() -> int:
    return int(scalar("SELECT count(*) FROM cases WHERE status = 'in_review'"))


def _progress() -> str:
    outbox_rows = db.session.execute(
        select(OutboxMessage.task, OutboxMessage.status, func.count()).group_by(
            OutboxMessage.task, OutboxMessage.status
        )
    ).all()
    db.session.rollback()
    return f"{_in_review()} cases in review, outbox {sorted(tuple(r) for r in outbox_rows)}"


def _quantiles(values: list[float]) -> str:
    if not values:
        return "none"
    ordered = sorted(values)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms"


def test_200_submissions_with_redis_down_for_a_third_lose_nothing_fail_none_double_nothing(
    app: Flask, ctx: None, own_redis: OwnRedis, logs: Path
) -> None:
    world = build_world(pathologists=10, oncologists=5)
    needed = draft_cases(world, CASES)
    stop_at, restart_at = CASES // 3, 2 * CASES // 3
    latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
    statuses: Counter[int | str] = Counter()
    run_started = time.monotonic()
    with mail_sink() as mail:
        env = service_env(mail_port=mail.port, redis_url=own_redis.url)
        web, base = start_web(env, logs)
        worker = start_worker(env, logs)
        try:
            referrer = Http(base, world.referrer.email)
            phase = "before"
            stopped = restarted = 0.0
            for i, case_id in enumerate(needed):
                if i == stop_at:
                    own_redis.stop()
                    stopped, phase = time.monotonic(), "during"
                if i == restart_at:
                    time.sleep(max(0.0, OUTAGE_AT_LEAST_SECONDS - (time.monotonic() - stopped)))
                    own_redis.start()
                    restarted, phase = time.monotonic(), "after"
                started = time.monotonic()
                try:
                    status: int | str = referrer.post(f"/cases/{case_id}/submit").status_code
                except requests.RequestException as exc:  # a hang past 30 s, a reset
                    status = type(exc).__name__
                latencies[phase].append(time.monotonic() - started)
                statuses[status] += 1
            submitted = time.monotonic()

            try:
                wait_until(
                    lambda: _in_review() == CASES,
                    timeout=ROUTED_WITHIN_SECONDS - (time.monotonic() - restarted),
                    interval=0.2,
                    what=f"all {CASES} cases in review {ROUTED_WITHIN_SECONDS:.0f} s after Redis",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}: {_progress()}; logs in {logs}") from None
            routed_after = time.monotonic() - restarted
            wait_until(
                lambda: routing_finished(CASES),
                timeout=60,
                interval=0.2,
                what="every outbox message done and every assignment emailed",
            )
            finished_after = time.monotonic() - restarted
        finally:
            worker.stop()
            web.stop()

    print(
        f"\n{CASES} submissions over HTTP, Redis down for {restarted - stopped:.1f} s "
        f"(submissions {stop_at + 1}-{restart_at}); statuses {dict(statuses)}"
    )
    for name, values in latencies.items():
        print(f"  submit latency {name:6} the outage: {_quantiles(values)}")
    print(
        f"  submitting took {submitted - run_started:.1f} s; all {CASES} cases in review "
        f"{routed_after:.1f} s after Redis came back, every email sent after "
        f"{finished_after:.1f} s"
    )
    assert set(statuses) == {202}, statuses  # 0 lost requests, 0 HTTP 5xx
    slowest = max(max(values) for values in latencies.values())
    assert slowest < SUBMIT_BOUND_SECONDS, f"a submit took {slowest:.1f} s"
    assert "Traceback" not in web.output(), web.output()
    print(" ", assert_routed_once(world, needed, mail))


def _unfinished_attempts() -> dict[int, int]:
    """Deliveries begun (the attempt is committed before the work) and not finished."""
    rows = db.session.execute(
        select(OutboxMessage.id, OutboxMessage.attempts).where(
            OutboxMessage.status != OutboxStatus.DONE
        )
    ).tuples()
    result = {message_id: attempts for message_id, attempts in rows if attempts}
    db.session.rollback()
    return result


def test_ten_sigkills_of_the_worker_at_random_moments_lose_no_case_and_double_nothing(
    app: Flask, ctx: None, broker: redis.Redis, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = int(os.environ.get("BOARD_KILL_SEED") or secrets.randbelow(1_000_000))
    print(f"\nkill schedule seed {seed} (replay it with BOARD_KILL_SEED={seed})")
    rng = random.Random(seed)
    world = build_world(pathologists=10, oncologists=5)
    # Published right after each commit, as the web process does: all 200 routing
    # messages wait in Redis before the first worker starts.
    monkeypatch.setitem(app.config, "OUTBOX_PUBLISH_ON_COMMIT", True)
    needed = submit_cases(world, CASES)
    started = time.monotonic()
    hits: list[str] = []
    workers: list[Proc] = []
    with mail_sink() as mail:
        # The sweeper cannot tell a message lost with a killed worker from one merely
        # queued behind this backlog, and republishes both once they are older than
        # this. The tests' usual 3 s would multiply the queue several times over;
        # production waits 120 s.
        env = service_env(mail_port=mail.port, FLASK_OUTBOX_REDELIVER_AFTER_SECONDS="10")
        for k in range(1, KILLS + 1):
            before = _unfinished_attempts()
            worker = start_worker(env, logs, name=f"worker-{k}", concurrency=2)
            workers.append(worker)
            try:
                # A random moment, spread over the run: once a random number of
                # further cases is routed (at most 15 a worker, so all ten kills land
                # before the 200th case), plus up to 50 ms more.
                target = _in_review() + rng.randint(1, 15)
                wait_until(
                    lambda: _in_review() >= target,  # noqa: B023 (used at once)
                    timeout=60,
                    interval=0.005,
                    what=f"worker-{k} to route up to {target} cases",
                )
                time.sleep(rng.uniform(0, 0.05))
                worker.kill()  # SIGKILL to the process group: the main process and its pool
            finally:
                worker.stop()
            after = _unfinished_attempts()
            killed = [m for m, attempts in after.items() if attempts > before.get(m, 0)]
            hits.append(
                f"kill {k:2}: {_in_review():3}/{CASES} cases routed, "
                f"deliveries cut short (outbox ids): {killed}"
            )
        routed_at_last_kill = _in_review()
        final = start_worker(env, logs, name="worker-final")
        workers.append(final)
        try:
            recovering = time.monotonic()
            wait_until(
                lambda: routing_finished(CASES),
                timeout=120,
                interval=0.2,
                what="every case routed and every email sent after the last kill",
            )
            recovered = time.monotonic() - recovering
        finally:
            final.stop()

    print("\n".join(hits))
    received = sum(
        1
        for w in workers
        for line in w.output().splitlines()
        if f"Task {ROUTE}[" in line and line.endswith("received")
    )
    print(
        f"the workers received {received} routing deliveries for {CASES} messages "
        f"(republished by the sweeper: cut short by a kill, or still queued); after the "
        f"last kill a fresh worker finished in {recovered:.1f} s; whole run "
        f"{time.monotonic() - started:.1f} s"
    )
    assert routed_at_last_kill < CASES, "every kill must land while cases are still routing"
    print(assert_routed_once(world, needed, mail))
    assert scalar("SELECT count(*) FROM outbox_messages WHERE status = 'parked'") == 0


def test_messages_lost_between_the_commit_and_a_worker_are_published_again_and_routed(
    app: Flask, ctx: None, broker: redis.Redis, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build_world(pathologists=2, oncologists=1)
    monkeypatch.setitem(app.config, "OUTBOX_PUBLISH_ON_COMMIT", True)
    queue = app.config["CELERY"]["task_default_queue"]

    # 1. The web process dies right after its commit, before it publishes: injected
    #    by a publish that does nothing. The row stays pending; the relay sends it.
    with monkeypatch.context() as crash:
        crash.setattr(outbox, "publish_now", lambda messages: None)
        (unpublished,) = submit_cases(world, 1)
    assert broker.llen(queue) == 0

    # 2. The publish succeeds, then the broker loses the message before any worker
    #    takes it (a Redis restart without persistence, a flushed queue). The row
    #    says "published": only the sweeper can notice.
    (lost,) = submit_cases(world, 1)
    assert broker.llen(queue) == 1
    broker.delete(queue)

    def message(case_id: int) -> OutboxMessage:
        db.session.expire_all()
        rows = db.session.scalars(select(OutboxMessage).where(OutboxMessage.task == ROUTE))
        (row,) = [m for m in rows if m.payload["case_id"] == case_id]
        return row

    assert message(unpublished).status == OutboxStatus.PENDING
    lost_row = message(lost)
    assert lost_row.status == OutboxStatus.PUBLISHED
    first_published_at = lost_row.published_at
    assert first_published_at is not None

    with mail_sink() as mail:
        worker = start_worker(service_env(mail_port=mail.port), logs)
        try:
            wait_until(lambda: _in_review() == 2, timeout=60, what="both cases routed")
        finally:
            worker.stop()

    def routed_at(case_id: int) -> dt.datetime:
        return db.session.scalar(
            select(func.min(Assignment.created_at)).where(Assignment.case_id == case_id)
        )

    relayed = message(unpublished)
    assert (relayed.status, relayed.attempts) == (OutboxStatus.DONE, 1)
    assert relayed.published_at is not None and relayed.published_at >= relayed.available_at

    swept = message(lost)
    assert (swept.status, swept.attempts) == (OutboxStatus.DONE, 1)
    assert swept.published_at is not None
    # Published a second time, and only after the sweeper's delay: the sweeper did it.
    delay = swept.published_at - first_published_at
    assert delay >= dt.timedelta(seconds=REDELIVER_AFTER_SECONDS)
    assert routed_at(lost) - first_published_at >= dt.timedelta(seconds=REDELIVER_AFTER_SECONDS)
    print(
        f"\nunpublished after its commit: relayed "
        f"{(relayed.published_at - relayed.created_at).total_seconds():.1f} s after the commit; "
        f"lost in the broker: republished by the sweeper {delay.total_seconds():.1f} s after "
        f"its first publish, routed "
        f"{(routed_at(lost) - first_published_at).total_seconds():.1f} s after it"
    )


@pytest.mark.parametrize("dies", ["pool_child", "whole_worker"])
def test_a_poison_task_runs_at_most_three_times_then_is_parked_and_the_coordinator_told(
    app: Flask, ctx: None, broker: redis.Redis, logs: Path, tmp_path: Path, dies: str
) -> None:
    world = build_world(pathologists=1, oncologists=1)
    case = complete_draft(world.referrer, [], f.pdf())  # a draft: nothing routes it
    # Through the outbox like every task; the worker's relay publishes it.
    poison_message = outbox.enqueue(POISON_TASK, case_id=case.id)
    db.session.commit()
    message_id = poison_message.id
    runs_log = tmp_path / "poison-runs.log"
    limit = app.config["OUTBOX_MAX_ATTEMPTS"]

    def parked() -> bool:
        return scalar("SELECT status FROM outbox_messages WHERE id = :m", m=message_id) == "parked"

    with mail_sink() as mail:
        env = service_env(
            mail_port=mail.port, **{POISON_LOG_ENV: str(runs_log), POISON_KILLS_ENV: dies}
        )
        command = worker_command(concurrency=1, extra_args=["-I", "tests.support.poison"])
        workers = [Proc("worker-1", command, env, logs)]
        started = time.monotonic()
        try:
            # Keep a worker running, as a supervisor (systemd, compose) would.
            deadline = started + 90
            while not parked() and time.monotonic() < deadline:
                if workers[-1].process.poll() is not None:
                    workers[-1].stop()
                    workers.append(Proc(f"worker-{len(workers) + 1}", command, env, logs))
                time.sleep(0.1)
            parked_after = time.monotonic() - started
            wait_until(
                lambda: any("background task" in m["Subject"] for m in mail.messages),
                timeout=30,
                what="the coordinator's email about the parked task",
            )
        finally:
            for worker in workers:
                worker.stop()

    runs = runs_log.read_text().splitlines() if runs_log.exists() else []
    # The main process logs each child it loses once, with the child's exit code.
    worker_lost = sum(w.output().count("exited with 'exitcode 70'") for w in workers)
    print(
        f"\n{dies}: the poison task started {len(runs)} times, {len(workers)} worker "
        f"processes started, {worker_lost} pool children lost; parked after "
        f"{parked_after:.1f} s"
    )
    assert parked(), "the poison message was never parked"
    assert len(runs) == limit, runs

    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    assert (message.status, message.attempts) == (OutboxStatus.PARKED, limit + 1)
    (note,) = db.session.scalars(select(Notification)).all()
    assert (note.user_id, note.kind, note.case_id) == (world.coordinator.id, "task_parked", case.id)
    (email,) = mail.messages
    assert email["To"] == world.coordinator.email
    if dies == "pool_child":
        # The worker's main process survives, sees its child lost, and rejects the
        # message back to Redis at once (task_reject_on_worker_lost + acks_late).
        assert len(workers) == 1
        assert worker_lost == limit
    else:
        # The whole worker dies with the message unacknowledged: Redis would hand it
        # out again only after the visibility timeout (an hour); the sweeper of the
        # next worker republishes it after OUTBOX_REDELIVER_AFTER_SECONDS.
        assert len(workers) == limit + 1
