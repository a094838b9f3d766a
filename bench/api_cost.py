"""Where an API read's time goes: the one-SELECT ceiling, the API floor (the board's token
sign-in and read audit, nothing else) and the API's case read, one request at a time
in-process (Flask's test client), on one database. For information: no budget.

    PYTHONPATH=$PWD .venv/bin/python bench/api_cost.py

bench/web.py measures the API case read at saturation against the one-SELECT ceiling;
this says why its share is what it is. For each request: wall time and this process's
CPU time per request (the median of BENCH_API_COST_RUNS runs of BENCH_API_COST_REQUESTS
requests), and what it sends PostgreSQL (statements, commits and rollbacks, from the
engine's events; each pool checkout adds a ping). Seeds `board_bench_api_cost` with
bench/seed.py (BENCH_API_COST_CASES, 1,000) unless it holds that many cases already:
the case read's cost does not depend on how many other cases there are (bench/queries.py).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import event  # noqa: E402

from bench import seed as seeder  # noqa: E402
from bench._ceiling_app import create_app as ceiling_app  # noqa: E402
from bench.queries import _app as board_app  # noqa: E402

CASES = int(os.environ.get("BENCH_API_COST_CASES", "1000"))
REQUESTS = int(os.environ.get("BENCH_API_COST_REQUESTS", "300"))
RUNS = int(os.environ.get("BENCH_API_COST_RUNS", "5"))


def per_request(client: Any, path: str, headers: dict[str, str]) -> tuple[float, float]:
    """(wall ms, CPU ms) per request: medians over RUNS runs."""
    walls, cpus = [], []
    for _ in range(RUNS):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(REQUESTS):
            client.get(path, headers=headers)
        walls.append((time.perf_counter() - wall) * 1000 / REQUESTS)
        cpus.append((time.process_time() - cpu) * 1000 / REQUESTS)
    return statistics.median(walls), statistics.median(cpus)


def talk(app: Any, client: Any, path: str, headers: dict[str, str]) -> Counter[str]:
    """What one request sends PostgreSQL: its statements by first word, its commits
    and rollbacks."""
    from board.extensions import db

    with app.app_context():
        engine = db.engine
    seen: Counter[str] = Counter()

    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        seen[sql.split(None, 1)[0].upper()] += 1

    def commit(conn: Any) -> None:
        seen["COMMIT"] += 1

    def rollback(conn: Any) -> None:
        seen["ROLLBACK"] += 1

    hooks = [("before_cursor_execute", statement), ("commit", commit), ("rollback", rollback)]
    for name, hook in hooks:
        event.listen(engine, name, hook)
    try:
        response = client.get(path, headers=headers)
    finally:
        for name, hook in hooks:
            event.remove(engine, name, hook)
    assert response.status_code == 200, f"{path}: {response.status_code}"
    return seen


def main() -> int:
    url = seeder.bench_url("board_bench_api_cost")
    if seeder.seeded_cases(url) != CASES:
        seeder.prepare(url, fresh=True)
        seeder.seed(url, CASES)
    else:
        seeder.migrate(url)
    seeded = seeder.credentials(url)
    token = {"Authorization": f"Bearer {seeded['coordinator']['token']}"}
    board = board_app(url)
    ceiling = ceiling_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench-api-cost"})
    requests = [
        ("ceiling: one SELECT, JSON", ceiling, "/ceiling/select", {}),
        ("API floor: sign-in + audit", ceiling, "/floor/audited", token),
        ("API case read", board, f"/api/v1/cases/{seeded['case_id']}", token),
    ]
    print(
        f"bench/api_cost.py: {CASES:,} cases; {RUNS} runs of {REQUESTS} requests each, "
        "one at a time, in-process; medians"
    )
    print(f"  {'request':<28} {'wall':>9} {'CPU':>9}   sent to PostgreSQL (+ a ping per checkout)")
    base_cpu = None
    for name, app, path, headers in requests:
        client = app.test_client()
        for _ in range(50):  # warm: templates, statement caches, connections
            assert client.get(path, headers=headers).status_code == 200
        wall, cpu = per_request(client, path, headers)
        base_cpu = base_cpu or cpu
        sent = ", ".join(f"{n} {what}" for what, n in talk(app, client, path, headers).items())
        print(
            f"  {name:<28} {wall:6.2f} ms {cpu:6.2f} ms   {sent}"
            f"   (CPU {cpu / base_cpu:.1f}x the ceiling's)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
