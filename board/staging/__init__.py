"""AJCC 8th edition breast cancer staging: anatomic, clinical and pathological prognostic.

A pure, table-driven module (standard library only; no Flask, SQLAlchemy or Celery), so the
clinical rules can be read in tables.py and tested cell by cell.

    stage_group("pathological_prognostic", "pT1c", "pN0", "M0",
                grade=2, er="positive", pr="positive", her2="negative",
                recurrence_score=8)                       # -> "IA"
    explain(...)                                          # -> StageResult with the words

stage_group returns the stage group ("0", "IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC",
"IV") or None where the AJCC tables define no group for the inputs (e.g. missing biomarkers
for a prognostic stage, TX/NX, post-neoadjuvant prognostic staging). Invalid input raises
ValueError naming the field and the allowed values. rules.py documents each decision.
"""

from __future__ import annotations

from board.staging.rules import (
    EDITION,
    KINDS,
    Kind,
    NormalizedInputs,
    Rule,
    StageResult,
    evaluate,
    normalize,
)

__all__ = [
    "EDITION",
    "KINDS",
    "Kind",
    "NormalizedInputs",
    "Rule",
    "StageResult",
    "explain",
    "stage_group",
]


def explain(
    kind: str,
    t: str,
    n: str,
    m: str,
    grade: int | str | None = None,
    er: str | None = None,
    pr: str | None = None,
    her2: str | None = None,
    recurrence_score: float | None = None,
) -> StageResult:
    """The stage group with its table, row, rule and normalised inputs, in words."""
    return evaluate(normalize(kind, t, n, m, grade, er, pr, her2, recurrence_score))


def stage_group(
    kind: str,
    t: str,
    n: str,
    m: str,
    grade: int | str | None = None,
    er: str | None = None,
    pr: str | None = None,
    her2: str | None = None,
    recurrence_score: float | None = None,
) -> str | None:
    """The AJCC 8th stage group of `kind` for these categories, or None where none is defined.

    kind: "anatomic" | "clinical_prognostic" | "pathological_prognostic".
    """
    return explain(kind, t, n, m, grade, er, pr, her2, recurrence_score).stage
