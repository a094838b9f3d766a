"""Memory of a Celery worker over 10,000 real tasks: does it grow?

One worker process as docker-compose.yml runs it (prefork, BENCH_CONCURRENCY=4 pool
children) on a redis-server of its own and this machine's PostgreSQL (database
`board_bench_memory`, recreated). The tasks are the board's own, not no-ops: complete
cases are submitted through the case service (outbox row, publish after commit), so the
worker runs `routing.route_case` (the roster query, the routing rules, assignments,
inbox rows, audit rows on the hash chain) and then `notifications.send_email` for each
assignment (SMTP to a real sink in this process): about three tasks a case. The bench
keeps the queue short (submits while fewer than 20 messages wait), so the mix of tasks is
the same at the start and at the end.

The resident set size (RSS, psutil) of the worker's main process and of each pool child
is read when the worker's log has counted 1,000 finished tasks and again at 10,000
(BENCH_TASKS), and at every poll in between for the peak. Budget (exit 1 when missed):
the total (main + children) and the largest child at 10,000 within 10% of their values
at 1,000.

    PYTHONPATH=$PWD .venv/bin/python bench/memory.py
"""

from __future__ import annotations

import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench import _report as report  # noqa: E402
from bench._fleet import (  # noqa: E402
    bench_app,
    migrate_with_trigger,
    quiet,
    recreate_database,
    rss_bytes,
    seed_drafts,
    seed_people,
    start_workers,
    tasks_done,
    urls,
)
from board.auth.models import User  # noqa: E402
from board.cases import services as cases  # noqa: E402
from board.extensions import db  # noqa: E402
from tests.support.processes import OwnRedis, mail_sink, service_env  # noqa: E402

TASKS = int(os.environ.get("BENCH_TASKS", "10000"))
FIRST_SAMPLE = int(os.environ.get("BENCH_FIRST_SAMPLE", "1000"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "4"))
DATABASE = "board_bench_memory"
DATABASE_URL, _ = urls(DATABASE)
QUEUE = "board"  # task_default_queue (board/config.py)
MAX_WAITING = 20
GROWTH_BUDGET = 0.10
# Each case is one routing task and one email per assignment (1 to 3, 2 on average).
TASKS_PER_CASE = 3


@dataclass(frozen=True)
class Sample:
    tasks: int
    main: int
    children: list[int]

    @property
    def total(self) -> int:
        return self.main + sum(self.children)

    @property
    def largest_child(self) -> int:
        return max(self.children, default=0)

    def line(self) -> str:
        kids = " ".join(f"{mb(c)}" for c in self.children)
        return (
            f"after {self.tasks:6d} tasks: total {mb(self.total)}  main {mb(self.main)}  "
            f"children [{kids}]"
        )


def mb(n: int) -> str:
    return f"{n / 2**20:6.1f} MB"


def main() -> int:
    started = time.monotonic()
    recreate_database(DATABASE)
    logs = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    own_redis = OwnRedis(logs)
    own_redis.start()
    app = bench_app(DATABASE_URL, own_redis.url, publish=True)
    quiet(app)
    migrate_with_trigger(app)
    broker = redis.Redis.from_url(own_redis.url)
    cases_needed = TASKS // TASKS_PER_CASE + 200
    samples: list[Sample] = []
    peak = Sample(0, 0, [])
    try:
        with app.app_context():
            referrer = seed_people()
            drafts = seed_drafts(referrer, cases_needed)
            referrer_email = referrer.email
            db.session.remove()
        print(f"seeded {len(drafts)} complete drafts ({time.monotonic() - started:.0f} s)")
        with mail_sink() as mail:
            env = service_env(
                mail_port=mail.port, database_url=DATABASE_URL, redis_url=own_redis.url
            )
            (worker,) = start_workers(env, logs, 1, CONCURRENCY)
            pid = worker.process.pid
            try:
                with app.app_context():
                    referrer = db.session.scalars(
                        select(User).where(User.email == referrer_email)
                    ).one()
                    pending = iter(drafts)
                    last_poll = 0.0
                    done = 0
                    while done < TASKS:
                        if broker.llen(QUEUE) < MAX_WAITING:
                            case = next(pending, None)
                            if case is None:
                                raise SystemExit("ran out of drafts before the task count")
                            cases.submit(referrer, case[0])
                        else:
                            time.sleep(0.01)
                        if time.monotonic() - last_poll < 0.5:
                            continue
                        last_poll = time.monotonic()
                        done = tasks_done(worker)
                        main_rss, children = rss_bytes(pid)
                        now = Sample(done, main_rss, children)
                        if now.total > peak.total:
                            peak = now
                        if not samples and done >= FIRST_SAMPLE:
                            samples.append(now)
                            print("  " + now.line(), flush=True)
                    samples.append(now)
                    db.session.remove()
                mails = len(mail.messages)
            finally:
                worker.stop()
    finally:
        own_redis.close()

    first, last = samples[0], samples[-1]
    growth_total = last.total / first.total - 1
    growth_child = last.largest_child / first.largest_child - 1
    print(
        f"Celery worker memory over {last.tasks} tasks (routing.route_case and "
        f"notifications.send_email; {mails} emails received); prefork, concurrency "
        f"{CONCURRENCY}; {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print("  " + first.line())
    print("  " + last.line())
    print("  peak " + peak.line())
    print(
        f"  growth from {first.tasks} to {last.tasks} tasks: total {100 * growth_total:+.1f}%, "
        f"largest child {100 * growth_child:+.1f}%"
    )
    verdicts = [
        (f"total RSS within {100 * GROWTH_BUDGET:.0f}%", abs(growth_total) <= GROWTH_BUDGET),
        (
            f"largest child's RSS within {100 * GROWTH_BUDGET:.0f}%",
            abs(growth_child) <= GROWTH_BUDGET,
        ),
    ]
    return report.verdicts(verdicts, logs=logs, started=started)


if __name__ == "__main__":
    sys.exit(main())
