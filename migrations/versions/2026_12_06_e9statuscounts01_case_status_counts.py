"""the dashboard's counts: cases by status kept by triggers, overdue through an index

The overdue count read every running case's row (status, due date, then the row for
paused_at: 15 ms at 100,000 seeded cases); a partial index of the running clocks'
due dates makes it an index-only scan of the overdue ones (under 1 ms). A list of one
status newest first (the status tabs, the unroutable list) walked the primary key
backwards past every other case (3 ms for the newest 50 unroutable ones); (status, id)
finds them directly.

The coordinator's dashboard shows how many cases are in each status. Counting them
(`SELECT status, count(*) FROM cases GROUP BY status`) reads every case: 10-20 ms of
database time per view at 100,000 cases, growing with the board. Now a trigger on
`cases` appends a row (status, +1 or -1) to `case_status_counts` for every case added,
removed or moved to another status, and the dashboard sums that small table. The
workers' bookkeeping thread (workers/bookkeeping.py) folds the rows into one per
status every few seconds (board/cases/status_counts.py roll_up), so the sum stays
over a handful of rows.

Appending instead of updating one row per status: two transactions that move cases
into the same status never wait for each other (an UPDATE of a shared counter row
would hold its lock to the end of every routing and submission).

On SQLite, batch_alter_table on `cases` recreates the table and drops these triggers:
a later migration that does so must create them again.

Revision ID: e9statuscounts01
Revises: e9auditchainer01
Create Date: 2026-12-06 20:00:00

"""

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = "e9statuscounts01"
down_revision = "e9auditchainer01"
branch_labels = None
depends_on = None

# Cases whose clock runs (board/cases/models.py OVERDUE_STATES, not paused), as of
# this migration.
CLOCK_RUNNING = sa.text(
    "paused_at IS NULL AND status IN "
    "('submitted', 'in_review', 'unroutable', 'ready_for_board', 'consensus')"
)

PG_FUNCTION = """
CREATE FUNCTION case_status_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        INSERT INTO case_status_counts (status, n) VALUES (OLD.status, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO case_status_counts (status, n) VALUES (NEW.status, 1);
    END IF;
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = (
    "CREATE TRIGGER cases_status_count AFTER INSERT OR DELETE ON cases "
    "FOR EACH ROW EXECUTE FUNCTION case_status_count()",
    "CREATE TRIGGER cases_status_count_move AFTER UPDATE OF status ON cases "
    "FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status) "
    "EXECUTE FUNCTION case_status_count()",
)
SQLITE_TRIGGERS = (
    "CREATE TRIGGER cases_status_count_add AFTER INSERT ON cases "
    "BEGIN INSERT INTO case_status_counts (status, n) VALUES (NEW.status, 1); END",
    "CREATE TRIGGER cases_status_count_remove AFTER DELETE ON cases "
    "BEGIN INSERT INTO case_status_counts (status, n) VALUES (OLD.status, -1); END",
    "CREATE TRIGGER cases_status_count_move AFTER UPDATE OF status ON cases "
    "WHEN OLD.status IS NOT NEW.status BEGIN "
    "INSERT INTO case_status_counts (status, n) VALUES (OLD.status, -1); "
    "INSERT INTO case_status_counts (status, n) VALUES (NEW.status, 1); END",
)


def upgrade():
    op.create_table(
        "case_status_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_status_counts")),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index("ix_cases_status_id", ["status", "id"], unique=False)
        batch_op.create_index(
            "ix_cases_clock_running_due_at",
            ["due_at"],
            unique=False,
            postgresql_where=CLOCK_RUNNING,
            sqlite_where=CLOCK_RUNNING,
        )
    op.execute(
        "INSERT INTO case_status_counts (status, n) "
        "SELECT status, count(*) FROM cases GROUP BY status"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER cases_status_count_move ON cases")
        op.execute("DROP TRIGGER cases_status_count ON cases")
        op.execute("DROP FUNCTION case_status_count()")
    else:
        for name in ("add", "remove", "move"):
            op.execute(f"DROP TRIGGER cases_status_count_{name}")
    op.drop_table("case_status_counts")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_cases_clock_running_due_at",
            postgresql_where=CLOCK_RUNNING,
            sqlite_where=CLOCK_RUNNING,
        )
        batch_op.drop_index("ix_cases_status_id")
