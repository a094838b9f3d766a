"""restricted cases, break-glass grants, practice sharing, audit severity

A referrer may mark a case restricted; a coordinator opens one only through a
time-limited break-glass grant. An administrator may let the referrers of an
institution share cases within the practice. Audit rows gain a nullable severity.

Revision ID: e6breakglass01
Revises: e6sessionmfa01
Create Date: 2026-11-25 03:00:00.000000

"""
from alembic import op
import sqlalchemy as sa

import board.db

# revision identifiers, used by Alembic.
revision = 'e6breakglass01'
down_revision = 'e6sessionmfa01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('break_glass_grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('granted_at', board.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', board.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_break_glass_grants_case_id_cases')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_break_glass_grants_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_break_glass_grants'))
    )
    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_break_glass_grants_case_id'), ['case_id'], unique=False)
        batch_op.create_index('ix_break_glass_grants_user_id_case_id', ['user_id', 'case_id'], unique=False)

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('restricted', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('share_cases_in_practice', sa.Boolean(), server_default=sa.false(), nullable=False))

    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('severity', sa.String(length=10), nullable=True))


def downgrade():
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('severity')

    with op.batch_alter_table('institutions', schema=None) as batch_op:
        batch_op.drop_column('share_cases_in_practice')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('restricted')

    with op.batch_alter_table('break_glass_grants', schema=None) as batch_op:
        batch_op.drop_index('ix_break_glass_grants_user_id_case_id')
        batch_op.drop_index(batch_op.f('ix_break_glass_grants_case_id'))

    op.drop_table('break_glass_grants')
