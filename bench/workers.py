"""Routing throughput with 1 and 2 Celery worker processes: do two worker processes
route about twice as fast as one?

For each configuration (1 process, then 2; prefork, BENCH_CONCURRENCY pool children
each, 1 by default: a process with one child is one core's worth of worker, the unit a
new worker node adds; with 4, as docker-compose.yml runs a worker on a node of its own,
one process already fills this 2-core machine) on a real redis-server of
its own, this machine's PostgreSQL (database `board_bench_workers`, recreated) and real
worker processes:

1. saturation: BENCH_CASES complete drafts are submitted through the case service
   (`cases.submit`: the outbox row in the submit's transaction, published to Redis right
   after the commit, as the web process does) while no worker runs, so the queue holds
   the whole batch; then the worker processes start together and drain it. Sustained
   rate = cases routed per second between the 10th and the 90th percentile of routing
   times (the start-up and the tail left out). The emails each assignment queues go to
   the back of the queue, behind the batch: the rate is routing's.
2. latency at a steady rate: BENCH_PACED cases submitted one after another at a fixed
   rate (BENCH_RATE per second, 10 by default, 0 for a quarter of the 1-process
   saturation rate; the same for both configurations), with
   their emails interleaved as in production: p50 and
   p99 from the submit's return (committed and published) to the commit of the case's
   last assignment, heard through LISTEN/NOTIFY (bench/routing.py's trigger).

Each configuration runs BENCH_ROUNDS times (2 by default), in the order 1, 2, 2, 1, on
fresh drafts each time: the machine's other load drifts, and in this order a steady drift
weighs on both alike. Budget (exit 1 when missed): the mean saturation rate with 2
processes >= 1.6 x with 1, p99 submit-to-assigned under 1 s over each configuration's
paced runs, every case routed.

    PYTHONPATH=$PWD .venv/bin/python bench/workers.py
    BENCH_CASES=300 BENCH_PACED=100 BENCH_CONCURRENCY=4 ... (a quicker look, or 4 children each)
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
import psycopg  # noqa: E402
import redis  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench import _report as report  # noqa: E402
from bench._fleet import (  # noqa: E402
    Listener,
    bench_app,
    migrate_with_trigger,
    quiet,
    recreate_database,
    seed_drafts,
    seed_people,
    start_workers,
    urls,
)
from bench.routing import Figures  # noqa: E402
from board.auth.models import User  # noqa: E402
from board.cases import services as cases  # noqa: E402
from board.extensions import db  # noqa: E402
from tests.support.processes import OwnRedis, mail_sink, service_env  # noqa: E402

CASES = int(os.environ.get("BENCH_CASES", "1000"))
PACED = int(os.environ.get("BENCH_PACED", "200"))
# Ten cases a second is 36,000 an hour: far above a large network's thousands a month.
RATE = float(os.environ.get("BENCH_RATE", "10"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "1"))
DATABASE = "board_bench_workers"
DATABASE_URL, LIBPQ_URL = urls(DATABASE)
RATIO_BUDGET = 1.6
P99_BUDGET_SECONDS = 1.0
DRAIN_TIMEOUT_SECONDS = 600.0
# 1, 2, 2, 1 (and again per further pair of rounds): the machine's other load drifts, and
# in this order a steady drift weighs on both configurations alike.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
ORDER = [1, 2, 2, 1] * (ROUNDS // 2) + [1, 2] * (ROUNDS % 2)
QUEUE = "board"  # task_default_queue (board/config.py)


class Sampler:
    """While the batch drains: the machine's CPU use (all cores) and what the bench
    database's active backends are waiting on (pg_stat_activity, every 50 ms): a lock
    (an advisory lock, a row lock), I/O (the WAL flush at commit), or
    nothing (running on a CPU). This is what says where routing is serialised."""

    def __init__(self, worker_pids: list[int]) -> None:
        self.worker_pids = worker_pids
        self.cpu_before = self._cpu_seconds()
        self.worker_cpu = 0.0
        self.postgres_cpu = 0.0
        self.stop = threading.Event()
        self.cpu: list[float] = []
        self.waits: Counter[str] = Counter()
        self.active_samples = 0
        self.thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def __enter__(self) -> Sampler:
        psutil.cpu_percent(interval=None)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(5)
        after = self._cpu_seconds()
        self.worker_cpu = after[0] - self.cpu_before[0]
        # The backends serving the bench database (not other databases' on this server;
        # the WAL writer and checkpointer, shared, are left out).
        with psycopg.connect(LIBPQ_URL, autocommit=True) as conn:
            ours = {
                pid
                for (pid,) in conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE,)
                ).fetchall()
            }
        self.postgres_cpu = sum(
            after[1].get(pid, 0.0) - self.cpu_before[1].get(pid, 0.0) for pid in ours
        )

    def _cpu_seconds(self) -> tuple[float, dict[int, float]]:
        """CPU seconds of the worker processes and their pool children, and of each
        PostgreSQL server process on the machine (by pid)."""

        def used(p: psutil.Process) -> float:
            try:
                t = p.cpu_times()
                return float(t.user + t.system)
            except psutil.Error:
                return 0.0

        workers = 0.0
        for pid in self.worker_pids:
            parent = psutil.Process(pid)
            workers += used(parent) + sum(used(c) for c in parent.children(recursive=True))
        postgres = {
            p.pid: used(p) for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"
        }
        return workers, postgres

    def _run(self) -> None:
        with psycopg.connect(LIBPQ_URL, autocommit=True) as conn:
            last_cpu = time.monotonic()
            while not self.stop.wait(0.05):
                rows = conn.execute(
                    "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') "
                    "FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                    "AND pid <> pg_backend_pid()",
                    (DATABASE,),
                ).fetchall()
                for (what,) in rows:
                    self.waits[what] += 1
                self.active_samples += 1
                if time.monotonic() - last_cpu >= 0.5:
                    self.cpu.append(psutil.cpu_percent(interval=None))
                    last_cpu = time.monotonic()

    def line(self) -> str:
        total = sum(self.waits.values()) or 1
        busy = sum(self.cpu) / len(self.cpu) if self.cpu else 0.0
        top = ", ".join(f"{w} {100 * n / total:.0f}%" for w, n in self.waits.most_common(5))
        per_sample = sum(self.waits.values()) / (self.active_samples or 1)
        return (
            f"machine CPU busy {busy:.0f}% (all cores); active backends {per_sample:.1f} on "
            f"average: {top}"
        )


@dataclass
class Run:
    processes: int
    rate: float  # saturation: cases routed per second, 10th to 90th percentile
    drain_seconds: float
    paced_rate: float
    latency: Figures
    failures: int
    sampled: str
    worker_cpu_ms: float  # per case routed, worker processes and pool children
    postgres_cpu_ms: float  # per case routed, the bench database's backends


def submit_all(app, referrer_email: str, drafts: list[tuple[int, int]]) -> list[float]:
    """Submits each draft (committed and published); returns when each submit returned."""
    stamps = []
    with app.app_context():
        referrer = db.session.scalars(select(User).where(User.email == referrer_email)).one()
        for case_id, _ in drafts:
            cases.submit(referrer, case_id)
            stamps.append(time.perf_counter())
        db.session.remove()
    return stamps


def submit_paced(
    app, referrer_email: str, drafts: list[tuple[int, int]], rate: float
) -> tuple[list[float], float]:
    interval = 1.0 / rate
    stamps = []
    with app.app_context():
        referrer = db.session.scalars(select(User).where(User.email == referrer_email)).one()
        started = time.perf_counter()
        for i, (case_id, _) in enumerate(drafts):
            due = started + i * interval
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            cases.submit(referrer, case_id)
            stamps.append(time.perf_counter())
        achieved = (len(drafts) - 1) / (stamps[-1] - started) if len(drafts) > 1 else rate
        db.session.remove()
    return stamps, achieved


def combined(runs: list[Run]) -> Run:
    """The runs of one configuration as one: the mean saturation rate, the paced
    latencies pooled."""
    return Run(
        processes=runs[0].processes,
        rate=statistics.mean(r.rate for r in runs),
        drain_seconds=statistics.mean(r.drain_seconds for r in runs),
        paced_rate=statistics.mean(r.paced_rate for r in runs),
        latency=Figures([v for r in runs for v in r.latency.values]),
        failures=sum(r.failures for r in runs),
        sampled="",
        worker_cpu_ms=statistics.mean(r.worker_cpu_ms for r in runs),
        postgres_cpu_ms=statistics.mean(r.postgres_cpu_ms for r in runs),
    )


def run(
    processes: int,
    app,
    env: dict[str, str],
    logs: Path,
    referrer_email: str,
    batch: list[tuple[int, int]],
    paced: list[tuple[int, int]],
    rate: float,
    listener: Listener,
    broker: redis.Redis,
) -> Run:
    listener.expect(batch)
    submitted = submit_all(app, referrer_email, batch)
    print(
        f"  {processes} process(es): {len(batch)} submitted in {submitted[-1] - submitted[0]:.1f} s"
        " while no worker runs; starting the workers",
        flush=True,
    )
    workers = start_workers(env, logs, processes, CONCURRENCY)
    try:
        ids = [case_id for case_id, _ in batch]
        with Sampler([w.process.pid for w in workers]) as sampler:
            routed_all = listener.wait_for(ids, DRAIN_TIMEOUT_SECONDS)
        times = sorted(listener.heard_at[c] for c in ids if c in listener.heard_at)
        failures = len(ids) - len(times)
        lo, hi = round(0.1 * (len(times) - 1)), round(0.9 * (len(times) - 1))
        saturation = (hi - lo) / (times[hi] - times[lo]) if hi > lo else 0.0
        drain = times[-1] - times[0] if times else 0.0
        if not routed_all:
            print(f"    {failures} case(s) not routed within {DRAIN_TIMEOUT_SECONDS:.0f} s")
        # The emails queued behind the batch drain before the paced phase starts.
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        while broker.llen(QUEUE) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1)  # the last few still running in the pool
        use_rate = rate or saturation / 4
        listener.expect(paced)
        stamps, achieved = submit_paced(app, referrer_email, paced, use_rate)
        paced_ids = [case_id for case_id, _ in paced]
        listener.wait_for(paced_ids, 30)
        latencies = [
            listener.heard_at[c] - stamps[i]
            for i, c in enumerate(paced_ids)
            if c in listener.heard_at
        ]
        failures += len(paced_ids) - len(latencies)
    finally:
        for worker in workers:
            worker.stop()
    return Run(
        processes=processes,
        rate=saturation,
        drain_seconds=drain,
        paced_rate=achieved,
        latency=Figures(latencies or [float("inf")]),
        failures=failures,
        sampled=sampler.line(),
        worker_cpu_ms=1000 * sampler.worker_cpu / max(1, len(times)),
        postgres_cpu_ms=1000 * sampler.postgres_cpu / max(1, len(times)),
    )


def main() -> int:
    started = time.monotonic()
    recreate_database(DATABASE)
    logs = Path(tempfile.mkdtemp(prefix="bench-workers-"))
    own_redis = OwnRedis(logs)
    own_redis.start()
    app = bench_app(DATABASE_URL, own_redis.url, publish=True)
    quiet(app)
    migrate_with_trigger(app)
    listener = Listener(LIBPQ_URL)
    broker = redis.Redis.from_url(own_redis.url)
    runs: list[Run] = []
    try:
        with app.app_context():
            seed_started = time.monotonic()
            referrer = seed_people()
            referrer_email = referrer.email
            drafts = seed_drafts(referrer, len(ORDER) * (CASES + PACED))
            db.session.remove()
        print(
            f"seeded {len(drafts)} complete drafts in {time.monotonic() - seed_started:.0f} s",
            flush=True,
        )
        listener.start()
        with mail_sink() as mail:
            env = service_env(
                mail_port=mail.port,
                database_url=DATABASE_URL,
                redis_url=own_redis.url,
                # The batch waits in the queue by design: no sweep may republish it.
                FLASK_OUTBOX_REDELIVER_AFTER_SECONDS="3600",
            )
            rate = RATE
            for i, processes in enumerate(ORDER):
                base = i * (CASES + PACED)
                batch = drafts[base : base + CASES]
                paced = drafts[base + CASES : base + CASES + PACED]
                # A folder per run: a worker's log must not hold an earlier run's "ready."
                run_logs = logs / f"run{i + 1}-{processes}p"
                run_logs.mkdir()
                result = run(
                    processes,
                    app,
                    env,
                    run_logs,
                    referrer_email,
                    batch,
                    paced,
                    rate,
                    listener,
                    broker,
                )
                runs.append(result)
                rate = rate or result.rate / 4  # the same steady rate for all
                print(
                    f"    saturation {result.rate:6.1f} cases/s; paced at "
                    f"{result.paced_rate:.1f}/s: {result.latency.line()}",
                    flush=True,
                )
    finally:
        listener.stop.set()
        own_redis.close()

    one, two = (combined([r for r in runs if r.processes == n]) for n in (1, 2))
    ratio = two.rate / one.rate if one.rate else 0.0
    with psycopg.connect(LIBPQ_URL) as conn:
        version = conn.execute("SHOW server_version").fetchone()
    print(
        f"routing throughput, {CASES} cases per saturation run, {PACED} paced; prefork, "
        f"concurrency {CONCURRENCY} per worker process; {os.cpu_count()} CPUs, load average "
        f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}, Python {platform.python_version()}, "
        f"PostgreSQL {version[0] if version else '?'}, redis-server on port {own_redis.port}"
    )
    print(f"  runs in this order (processes): {', '.join(str(n) for n in ORDER)}")
    for r in runs:
        print(
            f"  {r.processes} worker process(es): {r.rate:6.1f} cases routed/s at saturation "
            f"(batch drained in {r.drain_seconds:.1f} s); paced at {r.paced_rate:.1f}/s "
            f"submit -> assigned {r.latency.line()}"
        )
        print(f"      while draining: {r.sampled}")
        print(
            f"      CPU per case routed: worker processes {r.worker_cpu_ms:.1f} ms, "
            f"the bench database's PostgreSQL backends {r.postgres_cpu_ms:.1f} ms"
        )
    print(
        f"  mean saturation: 1 process {one.rate:.1f}, 2 processes {two.rate:.1f} cases/s; "
        f"paced, all runs of each pooled: 1 process p99 {one.latency.p99 * 1000:.1f} ms, "
        f"2 processes p99 {two.latency.p99 * 1000:.1f} ms"
    )
    print(f"  ratio 2 processes / 1 process = {two.rate:.1f} / {one.rate:.1f} = {ratio:.2f}")
    verdicts = [
        (f"2 processes route >= {RATIO_BUDGET:g}x as fast as 1", ratio >= RATIO_BUDGET),
        *(
            (
                f"p99 submit -> assigned < {P99_BUDGET_SECONDS:g} s ({r.processes} process(es))",
                r.latency.p99 < P99_BUDGET_SECONDS,
            )
            for r in (one, two)
        ),
        ("every case routed", all(r.failures == 0 for r in runs)),
    ]
    return report.verdicts(verdicts, logs=logs, started=started)


if __name__ == "__main__":
    sys.exit(main())
