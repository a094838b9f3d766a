"""audit trail: hash chain, append-only trigger, detail, no foreign keys

Each audit row gets `prev_hash` and `row_hash` (SHA-256 over its canonical form and
prev_hash, board/audit/chain.py) and a `detail` (e.g. a role change's old and new
role). Existing rows are numbered 1..n in id order and chained here. The foreign
keys to users and cases go: a foreign key check takes a share lock on the parent
row, which could deadlock with the chain lock the commit holds. The per-case and
per-person indexes become (case_id, id) and (actor_id, id) for the trail pages.

A trigger refuses UPDATE, DELETE (and on PostgreSQL TRUNCATE) of audit rows, for
every database role including the owner; only a superuser or the table owner can
switch it off, explicitly (ALTER TABLE ... DISABLE TRIGGER), as the test suite's
cleanup does. Note for later migrations on SQLite: batch_alter_table on
audit_events recreates the table and drops these triggers; create them again.

Revision ID: e6auditchain01
Revises: e6breakglass01
Create Date: 2026-11-25 03:00:00

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import board.db
from board.audit import chain

# revision identifiers, used by Alembic.
revision = "e6auditchain01"
down_revision = "e6breakglass01"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")

PG_FUNCTION = """
CREATE FUNCTION audit_events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""
# The chain's head, read under the chain lock in ONE round trip: the lock, then a
# fresh read (a VOLATILE function takes a new snapshot for each statement, so the
# read sees the row the previous lock holder committed). Saves a round trip while
# the lock is held (board/audit/services.py). 0x6175646974 is CHAIN_LOCK_KEY.
PG_HEAD_FUNCTION = """
CREATE FUNCTION audit_chain_head(OUT last_id integer, OUT last_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(418581342580);
    SELECT id, row_hash INTO last_id, last_hash FROM audit_events ORDER BY id DESC LIMIT 1;
END
$$
"""
PG_TRIGGERS = (
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()",
)
SQLITE_TRIGGERS = tuple(
    f"CREATE TRIGGER audit_events_no_{op_name.lower()} BEFORE {op_name} ON audit_events "
    f"BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: {op_name} refused'); END"
    for op_name in ("UPDATE", "DELETE")
)


def _chain_existing_rows() -> None:
    """Numbers the rows 1..n in id order (the chain's ids have no gaps) and chains them."""
    conn = op.get_bind()
    audit = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("at", board.db.UTCDateTime()),
        *(sa.column(name) for name in chain.FIELDS if name not in ("id", "at", "detail")),
        sa.column("detail", JSON),
        sa.column("row_hash", sa.String),
    )
    rows = conn.execute(sa.select(audit).order_by(audit.c.id)).mappings().all()
    if not rows:
        return
    conn.execute(sa.update(audit).values(id=-audit.c.id))
    prev_hash, updates = chain.GENESIS, []
    for number, row in enumerate(rows, start=1):
        values = {**row, "id": number, "prev_hash": prev_hash}
        values["row_hash"] = chain.row_hash(values)
        updates.append({"old": -row["id"], "new": number, "p": prev_hash, "h": values["row_hash"]})
        prev_hash = values["row_hash"]
    conn.execute(
        sa.text("UPDATE audit_events SET id = :new, prev_hash = :p, row_hash = :h WHERE id = :old"),
        updates,
    )
    if conn.dialect.name == "postgresql":
        conn.execute(
            sa.text("SELECT setval(pg_get_serial_sequence('audit_events', 'id'), :n)"),
            {"n": len(rows)},
        )


def upgrade():
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", JSON, nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch_op.drop_constraint("fk_audit_events_actor_id_users", type_="foreignkey")
        batch_op.drop_constraint("fk_audit_events_case_id_cases", type_="foreignkey")
        batch_op.drop_index("ix_audit_events_actor_id")
        batch_op.drop_index("ix_audit_events_case_id")
        batch_op.create_index("ix_audit_events_actor_id_id", ["actor_id", "id"], unique=False)
        batch_op.create_index("ix_audit_events_case_id_id", ["case_id", "id"], unique=False)

    _chain_existing_rows()

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_HEAD_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_no_truncate ON audit_events")
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_refuse_change()")
        op.execute("DROP FUNCTION audit_chain_head()")
    else:
        op.execute("DROP TRIGGER audit_events_no_update")
        op.execute("DROP TRIGGER audit_events_no_delete")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_case_id_id")
        batch_op.drop_index("ix_audit_events_actor_id_id")
        batch_op.create_index("ix_audit_events_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_audit_events_actor_id", ["actor_id"], unique=False)
        batch_op.create_foreign_key("fk_audit_events_case_id_cases", "cases", ["case_id"], ["id"])
        batch_op.create_foreign_key("fk_audit_events_actor_id_users", "users", ["actor_id"], ["id"])
        batch_op.drop_column("row_hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("detail")
