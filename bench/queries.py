"""Benchmark: SQL statements per page and API read at N = 100 and N = 100,000 cases,
and the plan of every statement at 100,000.

    .venv/bin/python bench/queries.py [--small 100] [--large 100000] [--reseed]

1. Seeds two databases with bench/seed.py (board_bench_queries_small and
   board_bench_queries on BENCH_POSTGRES, default postgres@127.0.0.1:5432), unless they
   already hold that many cases (--reseed starts over), after `flask db upgrade`.
2. Runs each read of tests/support/query_counts.py READS (the coordinator's dashboard,
   a reviewer's inbox, the case page, the second opinion, analytics, meetings, the
   audit trails, the API lists...) in-process through Flask's test client, signed in
   with the seeded session cookie or API token, and counts its SQL statements (a
   before_cursor_execute listener on the engine). Prints both counts per read.
3. Runs EXPLAIN (ANALYZE, FORMAT JSON) on every SELECT of each read at 100,000 (in a
   transaction rolled back) and lists the sequential scans of the big tables (BIG).

Exits 1 when a read's count differs between the two boards (an N+1), or when a plan
at 100,000 reads a big table sequentially, except where ALLOWED says why it must.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seed as seeder  # noqa: E402
from tests.support.query_counts import READS, Read, run_read  # noqa: E402

# Tables that grow with the board: a page must not read one of them end to end.
BIG = {
    "cases",
    "audit_events",
    "assignments",
    "reviews",
    "review_verdicts",
    "records",
    "case_events",
    "notifications",
    "consensus",
    "agenda_items",
    "follow_up_questions",
    "record_requests",
}
# (read, table): a sequential scan the read needs by design.
ALLOWED: dict[tuple[str, str], str] = {
    ("analytics", "cases"): (
        "the dashboard's turnaround and implementation figures count every case of the "
        "period (by default all of them): an index would be read end to end as well; "
        "bench/analytics.py holds its 500 ms budget"
    ),
    ("analytics", "assignments"): (
        "the workload table counts each reviewer's completed assignments over the period "
        "(every assignment by default), as above"
    ),
}


def _app(url: str) -> Any:
    from board import create_app

    return create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "bench-queries",
            "CELERY": {"broker_url": "memory://"},
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "WTF_CSRF_ENABLED": False,
            # The analytics read as computed (its five aggregates), not from the minute
            # a web worker keeps it.
            "ANALYTICS_CACHE_SECONDS": 0,
        }
    )


def ensure(url: str, cases: int, reseed: bool) -> dict[str, Any]:
    have = seeder.seeded_cases(url)
    if have == cases and not reseed:
        seeder.migrate(url)  # a database seeded before the latest migration gets it
        print(f"reusing {url.rsplit('/', 1)[-1]} ({have:,} cases)")
    else:
        seeder.prepare(url, fresh=True)
        result = seeder.seed(url, cases)
        print(
            f"seeded {cases:,} cases into {url.rsplit('/', 1)[-1]} in "
            f"{result['seconds']['total']:.1f} s"
        )
    return seeder.credentials(url)


def _client(app: Any, read: Read, who: dict[str, Any]) -> Any:
    client = app.test_client()
    if not read.api:  # the API reads send the token (run_read)
        client.set_cookie(app.config["SESSION_COOKIE_NAME"], who["cookie"])
    return client


def measure(url: str, accounts: dict[str, Any]) -> dict[str, list[tuple[str, Any]]]:
    """Each read's statements (SQL and parameters)."""
    from board.extensions import db

    app = _app(url)
    out = {}
    with app.app_context():
        engine = db.engine
    for read in READS:
        client = _client(app, read, accounts[read.who])
        out[read.name] = run_read(app, client, read, accounts, engine).sql
    with app.app_context():
        db.engine.dispose()
    return out


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    if plan.get("Node Type") == "Seq Scan":
        found.append((plan.get("Relation Name", "?"), f"{plan.get('Actual Rows', '?')} rows"))
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def explain(url: str, statements: dict[str, list[tuple[str, Any]]]) -> list[str]:
    """Every sequential scan of a big table, one line each; prints each read's plans."""
    from board.extensions import db

    app = _app(url)
    problems = []
    with app.app_context():
        with db.engine.connect() as conn:
            for name, sql in statements.items():
                slowest = 0.0
                for statement, parameters in sql:
                    head = statement.lstrip().upper()
                    if not head.startswith("SELECT") or "AUDIT_CHAIN_HEAD" in head:
                        continue  # writes (the audit row) and the chain head's lock
                    trans = conn.begin()
                    try:
                        rows = conn.exec_driver_sql(
                            "EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters
                        ).scalar_one()
                    finally:
                        trans.rollback()
                    plan = (json.loads(rows) if isinstance(rows, str) else rows)[0]
                    slowest = max(slowest, float(plan.get("Execution Time", 0.0)))
                    for table, rows_read in _scans(plan["Plan"]):
                        if table not in BIG:
                            continue
                        if (name, table) in ALLOWED:
                            continue
                        short = " ".join(statement.split())[:140]
                        problems.append(f"{name}: Seq Scan on {table} ({rows_read}) in {short}")
                print(f"  {name:34} {len(sql):3} statements, slowest {slowest:7.2f} ms")
        db.engine.dispose()
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--small-url", default=seeder.bench_url("board_bench_queries_small"))
    parser.add_argument("--large-url", default=seeder.bench_url("board_bench_queries"))
    args = parser.parse_args()
    started = time.perf_counter()
    small_url, large_url = args.small_url, args.large_url
    small = measure(small_url, ensure(small_url, args.small, args.reseed))
    large = measure(large_url, ensure(large_url, args.large, args.reseed))
    print(f"\nSQL statements per read, {args.small:,} cases vs {args.large:,} cases:")
    differ = []
    for read in READS:
        a, b = len(small[read.name]), len(large[read.name])
        mark = "" if a == b else "   <-- differs"
        print(f"  {read.name:34} {a:3} {b:5}{mark}")
        if a != b:
            differ.append(read.name)
    print(f"\nEXPLAIN ANALYZE of every SELECT at {args.large:,} cases:")
    problems = explain(large_url, large)
    for line in problems:
        print(f"  SEQ SCAN {line}")
    for (name, table), why in ALLOWED.items():
        print(f"  allowed: {name} reads {table} sequentially: {why}")
    print(
        f"\n{len(differ)} reads whose count grows, {len(problems)} sequential scans of big "
        f"tables ({time.perf_counter() - started:.0f} s, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    return 1 if differ or problems else 0


if __name__ == "__main__":
    sys.exit(main())
