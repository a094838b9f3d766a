"""verdict summaries for the analytics dashboard, and an index of paused cases

The dashboard's widest queries read every verdict (636k for 100,000 cases) and took
most of its time (bench/analytics.py). Signed reviews never change, so their counts
are kept per case (case_verdict_summaries) and per case and specialty
(specialty_verdict_summaries) by the review signing service, in the signing
transaction (board.concordance.summaries). This migration creates the tables and
backfills them from the reviews already signed, with the same counts in plain SQL
(PostgreSQL and SQLite); ix_cases_paused lets the workload query find the few cases
whose clock is paused without reading every case.

Revision ID: e5verdictsum01
Revises: e6recordstore01
Create Date: 2026-11-25 02:50:55.009972

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "e5verdictsum01"
down_revision = "e6recordstore01"
branch_labels = None
depends_on = None

DIMENSIONS = ("diagnosis", "stage", "plan")
LEVELS = ("concur", "minor", "major")
COUNTS = [f"{d}_{level}" for d in DIMENSIONS for level in LEVELS]
ADDITIONAL = [f"additional_{name}" for name in COUNTS]
PRIMARY = [f"primary_{d}" for d in DIMENSIONS]
PAUSED = sa.text("paused_at IS NOT NULL")
HAS_ADDITIONAL = sa.text("additional_reviews > 0")

# A verdict's level: 0 concur, 2 differ major, 1 any other differ (minor).
LEVEL = "CASE WHEN v.verdict = 'concur' THEN 0 WHEN v.severity = 'major' THEN 2 ELSE 1 END"


def _counts(purpose: str | None) -> list[str]:
    only = f" AND a.purpose = '{purpose}'" if purpose else ""
    return [
        f"SUM(CASE WHEN v.dimension = '{d}'{only} AND {LEVEL} = {i} THEN 1 ELSE 0 END)"
        for d in DIMENSIONS
        for i in range(len(LEVELS))
    ]


BACKFILL_SPECIALTY = f"""
INSERT INTO specialty_verdict_summaries
    (case_id, specialty, {", ".join(COUNTS + PRIMARY)}, additional_reviews, {", ".join(ADDITIONAL)})
SELECT r.case_id, a.specialty,
    {", ".join(_counts(None))},
    {", ".join(f"MAX(CASE WHEN v.dimension = '{d}' AND a.purpose = 'primary' THEN {LEVEL} END)" for d in DIMENSIONS)},
    COUNT(DISTINCT CASE WHEN a.purpose = 'additional' THEN r.id END),
    {", ".join(_counts("additional"))}
FROM review_verdicts v
JOIN reviews r ON r.id = v.review_id
JOIN assignments a ON a.id = r.assignment_id
GROUP BY r.case_id, a.specialty
"""  # noqa: E501  (generated SQL)

BACKFILL_CASE = f"""
INSERT INTO case_verdict_summaries (case_id, {", ".join(COUNTS)}, pathology_diagnosis)
SELECT case_id, {", ".join(f"SUM({c})" for c in COUNTS)},
    MAX(CASE WHEN specialty <> 'pathology' THEN NULL
             WHEN diagnosis_major > 0 THEN 2
             WHEN diagnosis_minor > 0 THEN 1
             WHEN diagnosis_concur > 0 THEN 0 END)
FROM specialty_verdict_summaries
GROUP BY case_id
"""


# The reasons of each differ verdict, unnested from its JSON list.
BACKFILL_REASONS = """
INSERT INTO differ_reason_summaries (case_id, specialty, dimension, reason, verdicts)
SELECT r.case_id, a.specialty, v.dimension, reason.value, COUNT(*)
FROM review_verdicts v
JOIN {unnest} AS reason ON 1 = 1
JOIN reviews r ON r.id = v.review_id
JOIN assignments a ON a.id = r.assignment_id
WHERE v.verdict = 'differ'
GROUP BY r.case_id, a.specialty, v.dimension, reason.value
"""
UNNEST = {
    "postgresql": "jsonb_array_elements_text(v.reasons)",
    "sqlite": "json_each(v.reasons)",
}


def _count_columns(names: list[str]) -> list[sa.Column]:
    return [sa.Column(name, sa.Integer(), nullable=False) for name in names]


def upgrade():
    op.create_table(
        "case_verdict_summaries",
        sa.Column("case_id", sa.Integer(), nullable=False),
        *_count_columns(COUNTS),
        sa.Column("pathology_diagnosis", sa.SmallInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_verdict_summaries_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_verdict_summaries")),
    )
    op.create_table(
        "specialty_verdict_summaries",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("specialty", sa.String(length=40), nullable=False),
        *_count_columns(COUNTS),
        *(sa.Column(name, sa.SmallInteger(), nullable=True) for name in PRIMARY),
        *_count_columns(["additional_reviews", *ADDITIONAL]),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_specialty_verdict_summaries_case_id_cases")
        ),
        sa.PrimaryKeyConstraint(
            "case_id", "specialty", name=op.f("pk_specialty_verdict_summaries")
        ),
    )
    with op.batch_alter_table("specialty_verdict_summaries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_specialty_verdict_summaries_additional",
            ["case_id"],
            unique=False,
            postgresql_where=HAS_ADDITIONAL,
            sqlite_where=HAS_ADDITIONAL,
        )
    op.create_table(
        "differ_reason_summaries",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("specialty", sa.String(length=40), nullable=False),
        sa.Column("dimension", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("verdicts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_differ_reason_summaries_case_id_cases")
        ),
        sa.PrimaryKeyConstraint(
            "case_id", "specialty", "dimension", "reason", name=op.f("pk_differ_reason_summaries")
        ),
    )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cases_paused", ["id"], unique=False, postgresql_where=PAUSED, sqlite_where=PAUSED
        )
    op.execute(BACKFILL_SPECIALTY)
    op.execute(BACKFILL_CASE)
    op.execute(BACKFILL_REASONS.format(unnest=UNNEST[op.get_bind().dialect.name]))


def downgrade():
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_index("ix_cases_paused", postgresql_where=PAUSED, sqlite_where=PAUSED)
    op.drop_table("differ_reason_summaries")
    with op.batch_alter_table("specialty_verdict_summaries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_specialty_verdict_summaries_additional",
            postgresql_where=HAS_ADDITIONAL,
            sqlite_where=HAS_ADDITIONAL,
        )
    op.drop_table("specialty_verdict_summaries")
    op.drop_table("case_verdict_summaries")
