"""Pure rules of the review: why a reviewer differs, and where reviewers disagree.

The reasons are the categories second-opinion studies count most often when a
breast diagnosis or plan changes on review (pathology re-review: histologic
type, grade, lymphovascular invasion, nodal status, margins, receptors, HER2;
multidisciplinary review: tumour size and imaging extent, an additional lesion,
the surgery, systemic therapy, radiation).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


class DifferReason(enum.StrEnum):
    HISTOLOGIC_TYPE = "histologic_type"
    GRADE = "grade"
    LYMPHOVASCULAR_INVASION = "lymphovascular_invasion"
    NODAL_STATUS = "nodal_status"
    MARGINS = "margins"
    ER_PR = "er_pr"
    HER2 = "her2"
    TUMOUR_SIZE = "tumour_size"
    IMAGING_EXTENT = "imaging_extent"
    ADDITIONAL_LESION = "additional_lesion"
    SURGERY_CHOICE = "surgery_choice"
    SYSTEMIC_THERAPY = "systemic_therapy"
    RADIATION = "radiation"


class Retest(enum.StrEnum):
    HER2_ISH = "her2_ish"
    HER2_IHC = "her2_ihc"
    ER_PR = "er_pr"
    KI67 = "ki67"
    GENOMIC_ASSAY = "genomic_assay"  # e.g. the 21-gene recurrence score
    REPEAT_BIOPSY = "repeat_biopsy"
    ADDITIONAL_IMAGING = "additional_imaging"


R = DifferReason
# Which reason a changed field of the structured alternative stands for.
FIELD_REASON: dict[str, DifferReason] = {
    "histologic_type": R.HISTOLOGIC_TYPE,
    "grade": R.GRADE,
    "nottingham": R.GRADE,
    "lymphovascular_invasion": R.LYMPHOVASCULAR_INVASION,
    "nodes_examined": R.NODAL_STATUS,
    "nodes_positive": R.NODAL_STATUS,
    "margins": R.MARGINS,
    "closest_margin_mm": R.MARGINS,
    "er": R.ER_PR,
    "er_percent": R.ER_PR,
    "pr": R.ER_PR,
    "pr_percent": R.ER_PR,
    "her2": R.HER2,
    "her2_ihc": R.HER2,
    "her2_ish_ratio": R.HER2,
    "her2_copy_number": R.HER2,
    "t": R.TUMOUR_SIZE,
    "clinical_t": R.TUMOUR_SIZE,
    "pathological_t": R.TUMOUR_SIZE,
    "n": R.NODAL_STATUS,
    "clinical_n": R.NODAL_STATUS,
    "pathological_n": R.NODAL_STATUS,
    "m": R.IMAGING_EXTENT,
    "clinical_m": R.IMAGING_EXTENT,
    "pathological_m": R.IMAGING_EXTENT,
    "surgery": R.SURGERY_CHOICE,
    "reconstruction": R.SURGERY_CHOICE,
    "neoadjuvant": R.SYSTEMIC_THERAPY,
    "chemotherapy": R.SYSTEMIC_THERAPY,
    "endocrine": R.SYSTEMIC_THERAPY,
    "targeted": R.SYSTEMIC_THERAPY,
    "medications": R.SYSTEMIC_THERAPY,
    "radiation": R.RADIATION,
}


def reasons_from_alternative(
    original: Mapping[str, Any], alternative: Mapping[str, Any] | None
) -> list[DifferReason]:
    """The reasons a structured alternative implies: every field it sets to a value
    other than the original's. Free text ({"text": ...}) implies none."""
    if not alternative or "text" in alternative:
        return []
    found = {
        FIELD_REASON[name]
        for name, value in alternative.items()
        if name in FIELD_REASON and original.get(name) != value
    }
    return sorted(found, key=list(DifferReason).index)


@dataclass(frozen=True)
class ReviewerVerdict:
    review_id: int
    specialty: str
    purpose: str
    verdicts: Mapping[str, str]  # dimension -> "concur" | "differ"


@dataclass(frozen=True)
class Disagreement:
    specialty: str
    dimension: str
    review_ids: tuple[int, ...]

    @property
    def reason(self) -> str:
        return (
            f"the {self.specialty.replace('_', ' ')} reviewers gave different verdicts "
            f"on the {self.dimension}"
        )


def disagreements(reviews: Iterable[ReviewerVerdict]) -> list[Disagreement]:
    """Where two or more signed reviews of one specialty differ on a dimension
    (concur against differ). Tie-break reviews are the answer, not the question,
    so they are left out."""
    by_specialty: dict[str, list[ReviewerVerdict]] = {}
    for review in reviews:
        if review.purpose != "tie_break":
            by_specialty.setdefault(review.specialty, []).append(review)
    found = []
    for specialty, group in sorted(by_specialty.items()):
        if len(group) < 2:
            continue
        for dimension in ("diagnosis", "stage", "plan"):
            verdicts = {r.verdicts.get(dimension) for r in group} - {None}
            if len(verdicts) > 1:
                found.append(Disagreement(specialty, dimension, tuple(r.review_id for r in group)))
    return found
