"""fhir imports

Where a case came from when an EHR sent it as an HL7 FHIR mCODE Bundle: the import's
warnings (shown on the case page), the procedures of the history and the facts the
structured case has no field for (tumour size).

Revision ID: e7fhirimport01
Revises: ad0ac8a49cdb
Create Date: 2026-11-25 02:50:00

"""
from alembic import op
import sqlalchemy as sa

import board.db
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = 'e7fhirimport01'
down_revision = 'ad0ac8a49cdb'
branch_labels = None
depends_on = None


def _json():
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


def upgrade():
    op.create_table('fhir_imports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('imported_by_id', sa.Integer(), nullable=False),
    sa.Column('imported_at', board.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('bundle_type', sa.String(length=20), nullable=False),
    sa.Column('bundle_identifier', sa.String(length=200), nullable=True),
    sa.Column('warnings', _json(), nullable=False),
    sa.Column('history', _json(), nullable=False),
    sa.Column('extras', _json(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_fhir_imports_case_id_cases')),
    sa.ForeignKeyConstraint(['imported_by_id'], ['users.id'], name=op.f('fk_fhir_imports_imported_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fhir_imports')),
    sa.UniqueConstraint('case_id', name=op.f('uq_fhir_imports_case_id'))
    )


def downgrade():
    op.drop_table('fhir_imports')
