"""indexes for the pages at 100,000 cases: open assignments per reviewer, a reviewer's
latest assignment, open follow-up questions

bench/queries.py runs EXPLAIN ANALYZE on every statement of the pages and API reads at
100,000 seeded cases. Routing's roster (the coordinator's case page, every routing)
counted each reviewer's open assignments and found their latest one with a GROUP BY
over every assignment ever made (a sequential scan of 220k rows): it now asks per
reviewer, through a partial index of the open assignments (a few percent of the rows)
and an index on (reviewer_id, created_at). The dashboard's open follow-up questions
are found through a partial index of the unanswered ones.

Revision ID: e8indexes01
Revises: e5verdictsum01
Create Date: 2026-11-25 04:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e8indexes01"
down_revision = "e5verdictsum01"
branch_labels = None
depends_on = None

OPEN = sa.text("status IN ('offered', 'accepted')")
UNANSWERED = sa.text("answer IS NULL")


def upgrade():
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_assignments_open_reviewer_id",
            ["reviewer_id"],
            unique=False,
            postgresql_where=OPEN,
            sqlite_where=OPEN,
        )
        batch_op.create_index(
            "ix_assignments_reviewer_id_created_at", ["reviewer_id", "created_at"], unique=False
        )
    with op.batch_alter_table("follow_up_questions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follow_up_questions_unanswered",
            ["asked_at", "id"],
            unique=False,
            postgresql_where=UNANSWERED,
            sqlite_where=UNANSWERED,
        )


def downgrade():
    with op.batch_alter_table("follow_up_questions", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_follow_up_questions_unanswered",
            postgresql_where=UNANSWERED,
            sqlite_where=UNANSWERED,
        )
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("ix_assignments_reviewer_id_created_at")
        batch_op.drop_index(
            "ix_assignments_open_reviewer_id", postgresql_where=OPEN, sqlite_where=OPEN
        )
