"""audit trail: chained after the commit, by one chainer, instead of under a lock at commit

Until now every audited commit took the chain's advisory lock, read the chain's head,
hashed and inserted its rows and committed while holding it: every page view, API read,
submission and routing of every web and worker node queued on that one lock (its
ceiling was 300-450 audited commits a second on the project's machine, whatever the
number of nodes). Now a request only inserts its audit rows, in its own transaction,
and one chainer (a thread in each Celery worker, one at a time through an advisory
lock; workers/bookkeeping.py) links the committed rows into the hash chain shortly
after, in batches.

- `audit_chain` holds the chain: row `seq` (1, 2, 3, ... with no gap) links the audit
  event `event_id` with `prev_hash` (the previous row's hash) and `row_hash` (SHA-256 of
  the event's canonical form and prev_hash, board/audit/chain.py: unchanged). It is
  append-only like audit_events (the same trigger function refuses UPDATE, DELETE and
  TRUNCATE).
- The events keep their ids from the sequence (gaps are harmless now: the chain's
  numbering is `seq`). The existing rows' ids are their chain positions, so their links
  are (seq = id, event_id = id) with the hashes they had: no row is hashed again.
- `audit_events.tx` is the id of the transaction that wrote the row (PostgreSQL
  `pg_current_xact_id()`, filled in by the database, so no writer can forget it). The
  chainer links only rows of transactions older than the oldest one still running
  (`pg_snapshot_xmin`): those are final, and no row can later appear among them. It
  takes them in (tx, id) order after the last linked row, through the (tx, id) index.
  On SQLite (the embedded mode) tx is 0: its single writer commits rows in id order.
- audit_chain_head(), the lock-and-read function of e6auditchain01, goes.

On SQLite, batch_alter_table recreates audit_events and drops its triggers: they are
created again here.

Revision ID: e9auditchainer01
Revises: e8indexes01
Create Date: 2026-12-06 19:00:00

"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

import board.db
from board.audit import chain

# revision identifiers, used by Alembic.
revision = "e9auditchainer01"
down_revision = "e8indexes01"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# The writing transaction's id, as a plain bigint (xid8 has no cast to bigint but via
# text; its 64 bits never wrap).
PG_TX_DEFAULT = "(pg_current_xact_id()::text)::bigint"

PG_CHAIN_TRIGGERS = (
    "CREATE TRIGGER audit_chain_append_only BEFORE UPDATE OR DELETE ON audit_chain "
    "FOR EACH ROW EXECUTE FUNCTION audit_events_refuse_change()",
    "CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse_change()",
)


def _sqlite_triggers(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{op_name.lower()} BEFORE {op_name} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op_name} refused'); END"
        for op_name in ("UPDATE", "DELETE")
    )


# e6auditchain01's function, put back by the downgrade.
PG_HEAD_FUNCTION = """
CREATE FUNCTION audit_chain_head(OUT last_id integer, OUT last_hash varchar)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(418581342580);
    SELECT id, row_hash INTO last_id, last_hash FROM audit_events ORDER BY id DESC LIMIT 1;
END
$$
"""


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_chain",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_chain")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_chain_event_id")),
    )
    # Every row so far was chained at its commit: its id is its place in the chain.
    op.execute(
        "INSERT INTO audit_chain (seq, event_id, prev_hash, row_hash) "
        "SELECT id, id, prev_hash, row_hash FROM audit_events ORDER BY id"
    )
    if postgres:
        op.execute("DROP FUNCTION audit_chain_head()")
        # A constant default adds the column without rewriting the table; the rows
        # already there are chained, so their tx does not matter.
        op.add_column(
            "audit_events",
            sa.Column("tx", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        )
        op.alter_column("audit_events", "tx", server_default=sa.text(PG_TX_DEFAULT))
        op.drop_column("audit_events", "prev_hash")
        op.drop_column("audit_events", "row_hash")
        op.create_index("ix_audit_events_tx_id", "audit_events", ["tx", "id"], unique=False)
        # The ids come from the sequence again (the chain used to assign them).
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'id'), "
            "COALESCE((SELECT max(id) FROM audit_events), 0) + 1, false)"
        )
        for statement in PG_CHAIN_TRIGGERS:
            op.execute(statement)
    else:
        with op.batch_alter_table("audit_events", schema=None) as batch_op:
            batch_op.add_column(
                sa.Column("tx", sa.BigInteger(), server_default=sa.text("0"), nullable=False)
            )
            batch_op.drop_column("prev_hash")
            batch_op.drop_column("row_hash")
            batch_op.create_index("ix_audit_events_tx_id", ["tx", "id"], unique=False)
        for statement in (*_sqlite_triggers("audit_events"), *_sqlite_triggers("audit_chain")):
            op.execute(statement)


def _renumber_and_chain_at_commit() -> None:
    """Back to e6auditchain01's rule (ids 1..n in chain order, each row carrying its
    hashes): the chained rows in chain order, then the rows not chained yet in the
    order the chainer would have taken them, all numbered and hashed again."""
    conn = op.get_bind()
    audit = sa.table(
        "audit_events",
        sa.column("id", sa.Integer),
        sa.column("at", board.db.UTCDateTime()),
        *(sa.column(name) for name in chain.FIELDS if name not in ("id", "at", "detail")),
        sa.column("detail", JSON),
        sa.column("row_hash", sa.String),
        sa.column("tx", sa.BigInteger),
    )
    links = sa.table("audit_chain", sa.column("seq"), sa.column("event_id"))
    fields = [audit.c[name] for name in chain.FIELDS if name != "prev_hash"]
    rows = conn.execute(
        sa.select(*fields)
        .select_from(audit.outerjoin(links, links.c.event_id == audit.c.id))
        .order_by(links.c.seq.is_(None), links.c.seq, audit.c.tx, audit.c.id)
    ).mappings().all()
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


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("DROP TRIGGER audit_chain_no_truncate ON audit_chain")
        op.execute("DROP TRIGGER audit_chain_append_only ON audit_chain")
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        op.add_column("audit_events", sa.Column("prev_hash", sa.String(length=64), nullable=True))
        op.add_column("audit_events", sa.Column("row_hash", sa.String(length=64), nullable=True))
        _renumber_and_chain_at_commit()
        op.alter_column("audit_events", "prev_hash", nullable=False)
        op.alter_column("audit_events", "row_hash", nullable=False)
        op.drop_index("ix_audit_events_tx_id", table_name="audit_events")
        op.drop_column("audit_events", "tx")
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
        op.execute(PG_HEAD_FUNCTION)
    else:
        for table in ("audit_events", "audit_chain"):
            for op_name in ("update", "delete"):
                op.execute(f"DROP TRIGGER {table}_no_{op_name}")
        with op.batch_alter_table("audit_events", schema=None) as batch_op:
            batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        _renumber_and_chain_at_commit()
        with op.batch_alter_table("audit_events", schema=None) as batch_op:
            batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
            batch_op.alter_column("row_hash", existing_type=sa.String(length=64), nullable=False)
            batch_op.drop_index("ix_audit_events_tx_id")
            batch_op.drop_column("tx")
        for statement in _sqlite_triggers("audit_events"):
            op.execute(statement)
    op.drop_table("audit_chain")
