"""record store: storage key and key id on records

Record bytes move out of the database into the encrypted record store
(board/records). A row with a storage key has its file there; a row without one (from
before this revision) still has its bytes in record_blobs, read through
LegacyDbStore until `flask --app board records migrate` moves them. No file I/O
here: a migration must run without the records key or folder (the one-shot migrate
service of docker compose has neither volume nor secret).

Revision ID: e6recordstore01
Revises: e6auditchain01
Create Date: 2026-11-25 03:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e6recordstore01"
down_revision = "e6auditchain01"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("storage_key", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("key_id", sa.String(length=32), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_records_storage_key"), ["storage_key"])


def downgrade():
    # A record whose bytes are only in the record store has nothing to go back to in
    # record_blobs (a migration has no key and no files): refuse rather than leave rows
    # that no version of the board can read. Restore the pre-upgrade backup instead.
    bind = op.get_bind()
    stored = bind.execute(
        sa.text("SELECT count(*) FROM records WHERE storage_key IS NOT NULL")
    ).scalar()
    if stored:
        raise RuntimeError(
            f"{stored} records are in the record store; downgrading would orphan their "
            "files. Restore a backup taken before the upgrade instead."
        )
    with op.batch_alter_table("records", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_records_storage_key"), type_="unique")
        batch_op.drop_column("key_id")
        batch_op.drop_column("storage_key")
