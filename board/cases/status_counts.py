"""How many cases are in each status, without counting the cases.

A trigger on `cases` (migration e9statuscounts01) appends (status, +1/-1) to
`case_status_counts` whenever a case is added, removed or changes status, in the
same transaction; the dashboard (board/cases/dashboard.py) sums that table, which
`roll_up()` (the workers' bookkeeping thread, every few seconds) folds back to one row
per status. The sum is exact at every moment: a rollup replaces rows by their sum in
one transaction.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select, text

from board.cases.models import CaseStatusCount
from board.extensions import db

_counts = CaseStatusCount.__table__
# A fold that replaced more rows than this vacuums the table after it.
VACUUM_AFTER_ROWS = 200


def roll_up() -> int:
    """Folds the rows into one per status (in a transaction of its own); returns how
    many rows there were. Concurrent rollups are safe: each deletes only rows it saw,
    and a row another one deleted first is skipped."""
    with db.engine.begin() as conn:
        rows = int(conn.scalar(select(func.count()).select_from(_counts)) or 0)
        statuses = conn.scalar(select(func.count(func.distinct(_counts.c.status)))) or 0
        if rows <= statuses:
            return rows
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "WITH gone AS (DELETE FROM case_status_counts RETURNING status, n) "
                    "INSERT INTO case_status_counts (status, n) "
                    "SELECT status, sum(n) FROM gone GROUP BY status HAVING sum(n) <> 0"
                )
            )
        else:
            # SQLite: no DELETE inside a WITH. Its single writer lock, taken first by a
            # write that touches nothing, keeps the three statements together.
            conn.execute(text("DELETE FROM case_status_counts WHERE 0"))
            sums = conn.execute(
                select(_counts.c.status, func.sum(_counts.c.n)).group_by(_counts.c.status)
            ).all()
            conn.execute(delete(_counts))
            if sums:
                conn.execute(insert(_counts), [{"status": s, "n": int(n)} for s, n in sums if n])
    if rows > VACUUM_AFTER_ROWS and db.engine.dialect.name == "postgresql":
        # Each fold leaves the rows it replaced dead; the dashboard's sum reads past them
        # until they are vacuumed, and autovacuum looks at a table once a minute at best.
        # A few hundred rows: milliseconds, and SKIP_LOCKED never waits.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM (SKIP_LOCKED) case_status_counts"))
    return int(rows)
