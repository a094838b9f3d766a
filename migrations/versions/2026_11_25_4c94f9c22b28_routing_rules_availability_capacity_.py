"""routing rules: availability, capacity, urgent, coordinator specialties, reminders, notification keys

Revision ID: 4c94f9c22b28
Revises: db0a4daec276
Create Date: 2026-11-25 00:43:40.104416

"""
from alembic import op
import sqlalchemy as sa

import board.db
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '4c94f9c22b28'
down_revision = 'db0a4daec276'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('availability_windows',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('starts_at', board.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('ends_at', board.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=200), nullable=True),
    sa.Column('created_at', board.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_availability_windows_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_availability_windows'))
    )
    with op.batch_alter_table('availability_windows', schema=None) as batch_op:
        batch_op.create_index('ix_availability_windows_user_id_ends_at', ['user_id', 'ends_at'], unique=False)

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reminded_before_due_for', board.db.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminded_at_due_for', board.db.UTCDateTime(timezone=True), nullable=True))

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.add_column(sa.Column('urgent', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('added_specialties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('removed_specialties', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False, server_default='[]'))
        batch_op.add_column(sa.Column('auto_reassign', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key', sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_notifications_user_id'), ['user_id', 'key'])

    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('breast_subspecialty', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('max_open_assignments', sa.Integer(), nullable=False, server_default='10'))

    

def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('max_open_assignments')
        batch_op.drop_column('breast_subspecialty')

    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_notifications_user_id'), type_='unique')
        batch_op.drop_column('key')

    with op.batch_alter_table('cases', schema=None) as batch_op:
        batch_op.drop_column('auto_reassign')
        batch_op.drop_column('removed_specialties')
        batch_op.drop_column('added_specialties')
        batch_op.drop_column('urgent')

    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_column('reminded_at_due_for')
        batch_op.drop_column('reminded_before_due_for')

    with op.batch_alter_table('availability_windows', schema=None) as batch_op:
        batch_op.drop_index('ix_availability_windows_user_id_ends_at')

    op.drop_table('availability_windows')
    