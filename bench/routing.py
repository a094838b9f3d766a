"""Routing latency: from the HTTP 202 of `POST /api/v1/cases/{id}/submit` to the
moment all of the case's assignments are committed, over 500 cases, beside the
round trip of a no-op Celery task measured in the same run.

It starts its own gunicorn and ONE Celery worker (prefork, BENCH_CONCURRENCY=2
pool processes by default) on this machine's PostgreSQL (a database of its own,
`board_bench`, dropped, created and migrated here) and a redis-server of its own on
a free port. Submissions go one at a time: each waits for its case to be routed,
so the figures are latency, not throughput.

"Assignments committed" is observed by LISTEN/NOTIFY: a deferred constraint
trigger (installed in the bench database only) notifies at the commit of the
routing transaction with the case's assignment count; a listener thread stamps
each notification as it arrives (time.perf_counter, sub-millisecond resolution).

Budget (exit status 1 when missed): p50 within 3x of (no-op round trip p50 + the
database work of one routing p50), and p99 under 1 s.

    .venv/bin/python bench/routing.py        (or `make bench`)
    BENCH_CASES=100 .venv/bin/python bench/routing.py   (a quicker look)
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # `python bench/routing.py` from anywhere: tests.support, bench

import psycopg  # noqa: E402
import redis  # noqa: E402
import requests  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench import _report as report  # noqa: E402
from bench._tasks import NOOP_DONE_KEY, NOOP_TASK  # noqa: E402
from board import create_app  # noqa: E402
from board.auth.models import User  # noqa: E402
from board.auth.roles import Role  # noqa: E402
from board.cases import services as cases  # noqa: E402
from board.cases.schemas import CaseInput  # noqa: E402
from board.extensions import db  # noqa: E402
from board.outbox import services as outbox  # noqa: E402
from board.outbox.models import OutboxMessage  # noqa: E402
from board.routing import services as routing  # noqa: E402
from board.validation import parse  # noqa: E402
from tests.support import factories as f  # noqa: E402
from tests.support.processes import (  # noqa: E402
    OwnRedis,
    mail_sink,
    service_env,
    start_web,
    start_worker,
)
from tests.support.services import RECORDS_DIR, RECORDS_KEY  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "500"))
NOOPS = int(os.environ.get("BENCH_NOOPS", "200"))
DB_SAMPLES = int(os.environ.get("BENCH_DB_SAMPLES", "100"))
WARMUP = 10
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
SERVER = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
DATABASE = "board_bench"
DATABASE_URL = f"postgresql+psycopg://{SERVER}/{DATABASE}"
LIBPQ_URL = f"postgresql://{SERVER}/{DATABASE}"
ROUTED_CHANNEL = "bench_routed"
# Nothing should take this long; a case not routed by then counts as a failure.
CASE_TIMEOUT_SECONDS = 10.0
RATIO_BUDGET = 3.0
P99_BUDGET_SECONDS = 1.0
# A post-biopsy case always needs pathology; the referrer may ask for more.
REQUESTS: list[list[str]] = [[], ["medical_oncology"], ["medical_oncology", "radiation_oncology"]]

TRIGGER_SQL = f"""
CREATE FUNCTION bench_notify_routed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{ROUTED_CHANNEL}', NEW.case_id::text || ' ' ||
        (SELECT count(*) FROM assignments WHERE case_id = NEW.case_id)::text);
    RETURN NULL;
END $$;
-- Deferred: it fires at the commit of the routing transaction, when every
-- assignment of the case is written; listeners hear it once the commit is done.
CREATE CONSTRAINT TRIGGER bench_routed AFTER INSERT ON assignments
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bench_notify_routed();
"""


@dataclass(frozen=True)
class Figures:
    values: list[float]

    def q(self, fraction: float) -> float:
        ordered = sorted(self.values)
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.values)

    @property
    def p99(self) -> float:
        return self.q(0.99)

    def line(self) -> str:
        return (
            f"p50 {ms(self.p50)}  p90 {ms(self.q(0.9))}  p99 {ms(self.p99)}  "
            f"max {ms(max(self.values))}  (n={len(self.values)})"
        )


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def recreate_database() -> None:
    with psycopg.connect(f"postgresql://{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")


@dataclass
class Routed:
    """Case id -> what the listener waits for, and when it heard it."""

    needed: dict[int, int] = field(default_factory=dict)
    events: dict[int, threading.Event] = field(default_factory=dict)
    heard_at: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)

    def expect(self, case_id: int, assignments: int) -> threading.Event:
        event = threading.Event()
        self.needed[case_id] = assignments
        self.events[case_id] = event
        return event

    def listen(self) -> None:
        with psycopg.connect(LIBPQ_URL, autocommit=True) as conn:
            conn.execute(f"LISTEN {ROUTED_CHANNEL}")
            self.ready.set()
            while not self.stop.is_set():
                for note in conn.notifies(timeout=0.5):
                    now = time.perf_counter()
                    case_text, count_text = note.payload.split()
                    case_id, count = int(case_text), int(count_text)
                    wanted = self.needed.get(case_id)
                    if wanted is not None and count >= wanted and case_id not in self.heard_at:
                        self.heard_at[case_id] = now
                        self.events[case_id].set()


def seed() -> tuple[User, list[tuple[int, int]], list[tuple[int, int]]]:
    """Reviewers with room for every case, and complete drafts: (case id, assignments
    it will need) for the HTTP run, and more for the in-process database timing."""
    home = f.institution("Home Oncology")
    away = f.institution("University Breast Center")
    reviewers = [f.user(Role.PATHOLOGIST, away) for _ in range(20)]
    reviewers += [f.user(Role.MEDICAL_ONCOLOGIST, away) for _ in range(10)]
    reviewers += [f.user(Role.RADIATION_ONCOLOGIST, away) for _ in range(10)]
    for reviewer in reviewers:
        reviewer.max_open_assignments = 100_000  # the capacity rule is not what is measured
    f.user(Role.COORDINATOR, away)
    referrer = f.user(Role.REFERRER, home)
    db.session.commit()
    pdf = f.pdf()

    def drafts(count: int) -> list[tuple[int, int]]:
        made = []
        for i in range(count):
            requested = REQUESTS[i % len(REQUESTS)]
            body = f.case_body(requested_specialties=requested)
            case = cases.create_draft(referrer, parse(CaseInput, body))
            cases.add_record(
                referrer, case.id, kind="pathology_report", filename="path.pdf", data=pdf
            )
            made.append((case.id, 1 + len(requested)))
        return made

    return referrer, drafts(WARMUP + CASES), drafts(DB_SAMPLES)


def noop_round_trips(app: Any, broker: redis.Redis) -> Figures:
    celery = app.extensions["celery"]
    times = []
    for token in range(WARMUP + NOOPS):
        started = time.perf_counter()
        celery.send_task(NOOP_TASK, kwargs={"token": token})
        done = broker.blpop([NOOP_DONE_KEY], timeout=CASE_TIMEOUT_SECONDS)
        elapsed = time.perf_counter() - started
        if done is None or int(done[1]) != token:
            raise SystemExit(f"no-op task {token} did not come back: {done!r}")
        if token >= WARMUP:
            times.append(elapsed)
    return Figures(times)


def route_over_http(
    base: str, referrer_email: str, drafts: list[tuple[int, int]], routed: Routed
) -> tuple[Figures, Figures, Figures, int]:
    token = requests.post(
        f"{base}/api/v1/auth/token",
        json={
            "username": referrer_email,
            "password": f.PASSWORD,
            "otp": f.otp(referrer_email, DATABASE_URL),
        },
        timeout=30,
    ).json()["token"]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    from_202, from_request, answer = [], [], []
    failures = 0
    for i, (case_id, assignments) in enumerate(drafts):
        event = routed.expect(case_id, assignments)
        sent = time.perf_counter()
        response = session.post(f"{base}/api/v1/cases/{case_id}/submit", timeout=30)
        accepted = time.perf_counter()
        if response.status_code != 202 or not event.wait(CASE_TIMEOUT_SECONDS):
            failures += 1
            print(f"  case {case_id}: HTTP {response.status_code}, routed: {event.is_set()}")
            continue
        if i >= WARMUP:
            heard = routed.heard_at[case_id]
            from_202.append(heard - accepted)
            from_request.append(heard - sent)
            answer.append(accepted - sent)
    return Figures(from_202), Figures(from_request), Figures(answer), failures


def database_work(referrer: User, drafts: list[tuple[int, int]]) -> Figures:
    """What a routing delivery does in the database, timed in this process on the same
    database: count the attempt (its own commit), then route_case (one transaction).
    Publishing is off here, so broker time is not part of it."""
    times = []
    for case_id, _ in drafts:
        cases.submit(referrer, case_id)
        outbox_id = db.session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.task == "routing.route_case")
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        ).one()
        db.session.commit()
        started = time.perf_counter()
        assert outbox.begin_attempt(outbox_id)
        assert routing.route_case(case_id, outbox_id) is not None
        times.append(time.perf_counter() - started)
    return Figures(times)


def task_runtimes(worker_log: str) -> Figures | None:
    """The worker's own account: how long routing.route_case ran inside the pool."""
    values = []
    for line in worker_log.splitlines():
        if "Task routing.route_case[" in line and " succeeded in " in line:
            values.append(float(line.split(" succeeded in ")[1].split("s:")[0]))
    return Figures(values[WARMUP:]) if len(values) > WARMUP else None


def main() -> int:
    started = time.monotonic()
    recreate_database()
    logs = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    own_redis = OwnRedis(logs)
    own_redis.start()
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": DATABASE_URL,
            # The bench process publishes only the no-op tasks; routing in-process
            # (the database timing) must not reach the worker.
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "CELERY": {"broker_url": own_redis.url},
            # The same record files and key as the web and worker it starts (service_env).
            "RECORDS_DIR": str(RECORDS_DIR),
            "RECORDS_KEY": RECORDS_KEY,
        }
    )
    routed = Routed()
    try:
        with app.app_context():
            from flask_migrate import upgrade

            logging.disable(logging.INFO)  # alembic's progress lines are not figures
            upgrade(directory=str(ROOT / "migrations"))
            logging.disable(logging.NOTSET)
            with db.engine.begin() as conn:
                conn.exec_driver_sql(TRIGGER_SQL)
            referrer, http_drafts, db_drafts = seed()
            referrer_email = referrer.email
            db.session.remove()
        listener = threading.Thread(target=routed.listen, name="listener", daemon=True)
        listener.start()
        routed.ready.wait(10)
        broker = redis.Redis.from_url(own_redis.url)
        with mail_sink() as mail:
            env = service_env(
                mail_port=mail.port,
                database_url=DATABASE_URL,
                redis_url=own_redis.url,
                # Production's redelivery delay, not the tests' 3 s: a sweep must not
                # republish work merely queued behind the bench's own backlog.
                FLASK_OUTBOX_REDELIVER_AFTER_SECONDS="120",
            )
            web, base = start_web(env, logs)
            worker = start_worker(
                env, logs, concurrency=CONCURRENCY, extra_args=["-I", "bench._tasks"]
            )
            try:
                noop = noop_round_trips(app, broker)
                from_202, from_request, answer, failures = route_over_http(
                    base, referrer_email, http_drafts, routed
                )
            finally:
                worker.stop()
                web.stop()
            in_worker = task_runtimes(worker.output())
        with app.app_context():
            referrer = db.session.scalars(select(User).where(User.email == referrer_email)).one()
            dbwork = database_work(referrer, db_drafts)
            db.session.remove()
    finally:
        routed.stop.set()
        own_redis.close()

    floor = noop.p50 + dbwork.p50
    ratio = from_202.p50 / floor
    print(
        f"routing latency, {CASES} cases one at a time, 1 worker (prefork, concurrency "
        f"{CONCURRENCY}), gunicorn 2 workers; {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}; PostgreSQL {SERVER}/{DATABASE}, redis-server on "
        f"port {own_redis.port}"
    )
    print(f"  no-op Celery task round trip     {noop.line()}")
    print(f"  database work of one routing     {dbwork.line()}")
    if in_worker is not None:
        print(f"  route_case task time in worker   {in_worker.line()}")
    print(f"  submit answered (HTTP 202)       {answer.line()}")
    print(f"  202 -> all assignments committed {from_202.line()}")
    print(f"  request sent -> assignments      {from_request.line()}")
    print(
        f"  p50 / (no-op p50 + database p50) = {ms(from_202.p50).strip()} / "
        f"{ms(floor).strip()} = {ratio:.2f}"
    )
    verdicts = [
        (f"p50 within {RATIO_BUDGET:g}x of (no-op + database work)", ratio <= RATIO_BUDGET),
        (f"p99 under {P99_BUDGET_SECONDS:g} s", from_202.p99 < P99_BUDGET_SECONDS),
        ("every case routed", failures == 0),
    ]
    return report.verdicts(verdicts, logs=logs, started=started)


if __name__ == "__main__":
    sys.exit(main())
