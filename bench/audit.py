"""Benchmark: the cost of writing audit rows (every request writes at least one).

    .venv/bin/python bench/audit.py [--rows 5000] [--threads 4]

1. Creates its own PostgreSQL database, board_bench_audit (dropped and created again
   each run), on this machine's PostgreSQL (BENCH_POSTGRES, default
   postgres@127.0.0.1:5432) and migrates it in-process.
2. Calls board.audit.services.record() then commits, `--rows` times, each in its own
   transaction, in one thread; then the same number split over `--threads` threads
   (each with its own app context and session, as gunicorn threads or workers would).
3. Prints rows per second and the median / 95th percentile of one record+commit,
   with the load average (the machine is shared), then chains the rows (the chainer's
   rate: since e9auditchainer01 rows are linked after their commit) and checks the
   chain: `audit verify` must say intact with every row.

BENCH_AUDIT_CODE points at another checkout of the board to measure its code instead
(the figures before the hash chain were taken with the main branch this way).
No budget: it prints figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = os.environ.get("BENCH_AUDIT_CODE", str(ROOT))
sys.path.insert(0, CODE)

from sqlalchemy import create_engine, text  # noqa: E402  (after the path is set)
from sqlalchemy.engine import make_url  # noqa: E402

DATABASE = "board_bench_audit"


def fresh_database() -> str:
    server = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
    url = make_url(f"postgresql+psycopg://{server}/{DATABASE}")
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{DATABASE}"'))
    admin.dispose()
    return url.render_as_string(hide_password=False)


def run(app, count: int, latencies: list[float]) -> None:  # type: ignore[no-untyped-def]
    from board.audit import services as audit
    from board.extensions import db

    with app.app_context():
        for n in range(count):
            started = time.perf_counter()
            audit.record("case_view", case_id=None, object_type="case", object_id=n)
            db.session.commit()
            latencies.append(time.perf_counter() - started)
        db.session.remove()


def measure(app, rows: int, threads: int) -> tuple[float, list[float]]:  # type: ignore[no-untyped-def]
    latencies: list[float] = []
    share = [rows // threads + (1 if i < rows % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=run, args=(app, n, latencies)) for n in share]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, latencies


def report(label: str, rows: int, seconds: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1] * 1000
    median = statistics.median(ordered) * 1000
    print(
        f"{label:<12} {rows / seconds:7.0f} rows/s   median {median:6.2f} ms"
        f"   p95 {p95:6.2f} ms   ({rows} rows in {seconds:.1f} s)"
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    url = fresh_database()
    from flask_migrate import upgrade

    from board import create_app
    from board.config import PROJECT_ROOT

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "OUTBOX_PUBLISH_ON_COMMIT": False}
    )
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
    print(f"code: {CODE}   load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    seconds, latencies = measure(app, args.rows, 1)
    report("1 thread", args.rows, seconds, latencies)
    seconds, latencies = measure(app, args.rows, args.threads)
    report(f"{args.threads} threads", args.rows, seconds, latencies)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    from board.audit import services as audit

    if hasattr(audit, "chain_all"):  # chained after the commit (e9auditchainer01)
        with app.app_context():
            started = time.perf_counter()
            chained = audit.chain_all()
            seconds = time.perf_counter() - started
            rate = chained / seconds
            print(f"chainer      {rate:7.0f} rows/s   ({chained} rows in {seconds:.1f} s)")
            verdict, pending = audit.verify()
    elif hasattr(audit, "verify"):  # chained at commit
        with app.app_context():
            verdict, pending = audit.verify(), None
    else:
        return 0
    print(f"chain: {'intact' if verdict.intact else verdict.broken}, {verdict.rows} rows")
    if not verdict.intact or verdict.rows != 2 * args.rows or (pending and pending.rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
