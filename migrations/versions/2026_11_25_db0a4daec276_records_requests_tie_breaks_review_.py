"""records requests, tie-breaks, review reasons and re-testing

Revision ID: db0a4daec276
Revises: 57068ccf2331
Create Date: 2026-11-25 00:19:43.997883

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import board.db

# revision identifiers, used by Alembic.
revision = "db0a4daec276"
down_revision = "57068ccf2331"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ACTIVE = "status IN ('offered', 'accepted', 'completed')"
PRIMARY = sa.text(f"{ACTIVE} AND purpose = 'primary'")
TIE_BREAK = sa.text(f"{ACTIVE} AND purpose = 'tie_break'")


def upgrade():
    op.create_table(
        "record_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("assignment_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("kinds", JSON, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", board.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", board.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["assignment_id"], ["assignments.id"],
                                name=op.f("fk_record_requests_assignment_id_assignments")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"],
                                name=op.f("fk_record_requests_case_id_cases")),
        sa.ForeignKeyConstraint(["requested_by_id"], ["users.id"],
                                name=op.f("fk_record_requests_requested_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_requests")),
    )
    with op.batch_alter_table("record_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_record_requests_case_id"), ["case_id"], unique=False)

    # Existing rows get the defaults the application gives new ones.
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purpose", sa.String(length=20), nullable=False,
                                      server_default="primary"))
        batch_op.add_column(sa.Column("tie_break_dimension", sa.String(length=20), nullable=True))
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        # One active *primary* assignment per specialty: a second reader or a
        # tie-break of the same specialty is now allowed beside it.
        batch_op.drop_index("uq_assignments_active_specialty")
        batch_op.create_index("uq_assignments_active_specialty", ["case_id", "specialty"],
                              unique=True, postgresql_where=PRIMARY, sqlite_where=PRIMARY)
        batch_op.create_index("uq_assignments_tie_break_dimension",
                              ["case_id", "tie_break_dimension"], unique=True,
                              postgresql_where=TIE_BREAK, sqlite_where=TIE_BREAK)

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paused_at", board.db.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column("paused_seconds", sa.Integer(), nullable=False,
                                      server_default="0"))

    with op.batch_alter_table("review_verdicts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reasons", JSON, nullable=False, server_default="[]"))

    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retesting", JSON, nullable=False, server_default="[]"))


def downgrade():
    with op.batch_alter_table("reviews", schema=None) as batch_op:
        batch_op.drop_column("retesting")

    with op.batch_alter_table("review_verdicts", schema=None) as batch_op:
        batch_op.drop_column("reasons")

    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("paused_seconds")
        batch_op.drop_column("paused_at")

    # Going back to one active assignment per specialty: extra readers must go first.
    op.execute("DELETE FROM assignments WHERE purpose <> 'primary' AND id NOT IN "
               "(SELECT assignment_id FROM reviews) "
               "AND id NOT IN (SELECT assignment_id FROM record_requests "
               "WHERE assignment_id IS NOT NULL)")
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_index("uq_assignments_tie_break_dimension")
        batch_op.drop_index("uq_assignments_active_specialty")
        batch_op.create_index("uq_assignments_active_specialty", ["case_id", "specialty"],
                              unique=True, postgresql_where=sa.text(ACTIVE),
                              sqlite_where=sa.text(ACTIVE))
    with op.batch_alter_table("assignments", schema=None) as batch_op:
        batch_op.drop_column("tie_break_dimension")
        batch_op.drop_column("purpose")

    with op.batch_alter_table("record_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_record_requests_case_id"))

    op.drop_table("record_requests")
