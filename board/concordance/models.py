"""Verdict summaries: what the analytics dashboard reads instead of every verdict.

Signed reviews never change (board.reviews.models.Review), and neither do the
specialty and purpose of the assignment a review answers, so everything the
concordance and agreement figures need from the verdicts can be counted once, when a
review is signed, in the same transaction (board.concordance.summaries.refresh_case).
The case-level filters (period, timepoint, institution) are NOT copied here: the
dashboard joins the cases table for them, so a change to a case can never leave a
summary stale.

A verdict's level is 0 concur, 1 differ minor, 2 differ major (services.LEVELS).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column

from board.extensions import db


class CaseVerdictSummary(db.Model):  # type: ignore[name-defined,misc]
    """One row per case with at least one signed review: how many signed reviews, of
    every specialty, concur, differ minor and differ major on each dimension."""

    __tablename__ = "case_verdict_summaries"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    diagnosis_concur: Mapped[int] = mapped_column(default=0)
    diagnosis_minor: Mapped[int] = mapped_column(default=0)
    diagnosis_major: Mapped[int] = mapped_column(default=0)
    stage_concur: Mapped[int] = mapped_column(default=0)
    stage_minor: Mapped[int] = mapped_column(default=0)
    stage_major: Mapped[int] = mapped_column(default=0)
    plan_concur: Mapped[int] = mapped_column(default=0)
    plan_minor: Mapped[int] = mapped_column(default=0)
    plan_major: Mapped[int] = mapped_column(default=0)
    # The worst diagnosis level any pathology review gave (the pathology major-change
    # rate); NULL when no pathologist has signed.
    pathology_diagnosis: Mapped[int | None] = mapped_column(SmallInteger)


class SpecialtyVerdictSummary(db.Model):  # type: ignore[name-defined,misc]
    """One row per case and specialty with a signed review: the same nine counts for
    that specialty's reviews (primary, additional and tie-break), and the facts Cohen's
    kappa pairs: the primary reviewer's level per dimension and how many additional
    readers gave each level."""

    __tablename__ = "specialty_verdict_summaries"
    __table_args__ = (
        # Few cases have a second reader: Cohen's kappa reads only those rows.
        Index(
            "ix_specialty_verdict_summaries_additional",
            "case_id",
            postgresql_where=text("additional_reviews > 0"),
            sqlite_where=text("additional_reviews > 0"),
        ),
    )

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    specialty: Mapped[str] = mapped_column(String(40), primary_key=True)
    diagnosis_concur: Mapped[int] = mapped_column(default=0)
    diagnosis_minor: Mapped[int] = mapped_column(default=0)
    diagnosis_major: Mapped[int] = mapped_column(default=0)
    stage_concur: Mapped[int] = mapped_column(default=0)
    stage_minor: Mapped[int] = mapped_column(default=0)
    stage_major: Mapped[int] = mapped_column(default=0)
    plan_concur: Mapped[int] = mapped_column(default=0)
    plan_minor: Mapped[int] = mapped_column(default=0)
    plan_major: Mapped[int] = mapped_column(default=0)
    # The primary reviewer's level (one signed primary review per case and specialty:
    # uq_assignments_active_specialty); NULL until the primary reviewer signs.
    primary_diagnosis: Mapped[int | None] = mapped_column(SmallInteger)
    primary_stage: Mapped[int | None] = mapped_column(SmallInteger)
    primary_plan: Mapped[int | None] = mapped_column(SmallInteger)
    # Signed reviews by additional readers (purpose "additional"), and their verdicts
    # by level.
    additional_reviews: Mapped[int] = mapped_column(default=0)
    additional_diagnosis_concur: Mapped[int] = mapped_column(default=0)
    additional_diagnosis_minor: Mapped[int] = mapped_column(default=0)
    additional_diagnosis_major: Mapped[int] = mapped_column(default=0)
    additional_stage_concur: Mapped[int] = mapped_column(default=0)
    additional_stage_minor: Mapped[int] = mapped_column(default=0)
    additional_stage_major: Mapped[int] = mapped_column(default=0)
    additional_plan_concur: Mapped[int] = mapped_column(default=0)
    additional_plan_minor: Mapped[int] = mapped_column(default=0)
    additional_plan_major: Mapped[int] = mapped_column(default=0)


class DifferReasonSummary(db.Model):  # type: ignore[name-defined,misc]
    """How many differ verdicts on a case, in a specialty and a dimension, cite a
    reason (board.reviews.rules.DifferReason): the reasons of every signed review,
    unnested from their JSON lists once."""

    __tablename__ = "differ_reason_summaries"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    specialty: Mapped[str] = mapped_column(String(40), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(20), primary_key=True)
    reason: Mapped[str] = mapped_column(String(40), primary_key=True)
    verdicts: Mapped[int] = mapped_column(default=0)
