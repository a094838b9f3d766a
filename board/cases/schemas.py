"""The structured case as typed, validated input (first version; see issue 3).

One schema serves the JSON API and the web form, so both refuse the same
things with the same words.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from board.auth.roles import Specialty
from board.cases.rules import Timepoint

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
OptionalText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None


class Strict(BaseModel):
    # Unknown fields are refused, not dropped: a misspelt "her2" silently lost
    # would be a clinical error, not a convenience.
    model_config = ConfigDict(extra="forbid", use_enum_values=True)


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class HistologicType(enum.StrEnum):
    INVASIVE_DUCTAL = "invasive_ductal"
    INVASIVE_LOBULAR = "invasive_lobular"
    MIXED_DUCTAL_LOBULAR = "mixed_ductal_lobular"
    TUBULAR = "tubular"
    MUCINOUS = "mucinous"
    MICROPAPILLARY = "micropapillary"
    METAPLASTIC = "metaplastic"
    DCIS = "dcis"
    LCIS = "lcis"
    OTHER = "other"


class Laterality(enum.StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BILATERAL = "bilateral"


class ReceptorStatus(enum.StrEnum):
    POSITIVE = "positive"
    LOW_POSITIVE = "low_positive"
    NEGATIVE = "negative"


class Her2Status(enum.StrEnum):
    POSITIVE = "positive"
    EQUIVOCAL = "equivocal"
    NEGATIVE = "negative"


class StageGroup(enum.StrEnum):
    S0 = "0"
    IA = "IA"
    IB = "IB"
    IIA = "IIA"
    IIB = "IIB"
    IIIA = "IIIA"
    IIIB = "IIIB"
    IIIC = "IIIC"
    IV = "IV"


class Surgery(enum.StrEnum):
    LUMPECTOMY = "lumpectomy"
    MASTECTOMY = "mastectomy"
    NONE = "none"


# AJCC 8th edition breast categories with their prefixes (c clinical, p pathological,
# y after neoadjuvant therapy). The full clinical model of issue 3 adds consistency rules.
T_PATTERN = r"^(c|p|yc|yp)?T(X|is|0|1mi|1a|1b|1c|1|2|3|4a|4b|4c|4d|4)$"
N_PATTERN = r"^(c|p|yc|yp)?N(X|0\(i\+\)|0\(mol\+\)|0|1mi|1a|1b|1c|1|2a|2b|2|3a|3b|3c|3)$"
M_PATTERN = r"^(c|p)?M(0\(i\+\)|0|1)$"


def _category(pattern: str, allowed: str) -> Any:
    """An AJCC category checked against its pattern, refused with the allowed forms."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        value = value.strip()
        if not compiled.match(value):
            raise ValueError(f"must be {allowed}")
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "pattern": pattern})
    ]


TCategory = _category(
    T_PATTERN,
    "an AJCC 8th edition T category: prefix c, p, yc or yp, then TX, Tis, T0, T1mi, "
    "T1a, T1b, T1c, T2, T3, T4a, T4b, T4c or T4d (e.g. cT2)",
)
NCategory = _category(
    N_PATTERN,
    "an AJCC 8th edition N category: prefix c, p, yc or yp, then NX, N0, N0(i+), "
    "N0(mol+), N1mi, N1, N1a-c, N2, N2a-b, N3 or N3a-c (e.g. cN0)",
)
MCategory = _category(M_PATTERN, "an AJCC 8th edition M category: cM0, cM0(i+), cM1 or pM1")


class Patient(Strict):
    name: Text
    birth_date: dt.date
    mrn: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    sex: Sex

    @field_validator("birth_date")
    @classmethod
    def plausible_birth_date(cls, value: dt.date) -> dt.date:
        today = dt.date.today()
        if value > today:
            raise ValueError("cannot be in the future")
        if value.year < today.year - 120:
            raise ValueError("is more than 120 years ago; check the year")
        return value


class Diagnosis(Strict):
    histologic_type: HistologicType | None = None
    laterality: Laterality | None = None
    grade: int | None = Field(default=None, ge=1, le=3)
    er: ReceptorStatus | None = None
    pr: ReceptorStatus | None = None
    her2: Her2Status | None = None
    ki67_percent: float | None = Field(default=None, ge=0, le=100)


class Stage(Strict):
    t: TCategory | None = None  # type: ignore[valid-type]
    n: NCategory | None = None  # type: ignore[valid-type]
    m: MCategory | None = None  # type: ignore[valid-type]
    anatomic: StageGroup | None = None
    clinical_prognostic: StageGroup | None = None
    pathological_prognostic: StageGroup | None = None


class Plan(Strict):
    neoadjuvant: bool | None = None
    surgery: Surgery | None = None
    reconstruction: bool | None = None
    chemotherapy: OptionalText = None
    radiation: bool | None = None
    endocrine: OptionalText = None
    targeted: OptionalText = None


class Insurance(Strict):
    insurer: Text
    second_opinion_covered: bool
    required_by_insurer: bool = False
    pathology_review_covered: bool
    # When true, only reviewers at institutions in this insurer's network may review.
    network_restriction: bool = False


class CaseInput(Strict):
    patient: Patient
    timepoint: Timepoint
    question: LongText
    requested_specialties: list[Specialty] = Field(default_factory=list)
    diagnosis: Diagnosis = Field(default_factory=Diagnosis)
    stage: Stage = Field(default_factory=Stage)
    plan: Plan = Field(default_factory=Plan)
    insurance: Insurance

    @model_validator(mode="after")
    def no_repeated_specialty(self) -> CaseInput:
        if len(set(self.requested_specialties)) != len(self.requested_specialties):
            raise ValueError("requested_specialties lists a specialty twice")
        return self
