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
from board.cases import clinical
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


class Intensity(enum.StrEnum):
    WEAK = "weak"
    MODERATE = "moderate"
    STRONG = "strong"


class Her2Ihc(enum.StrEnum):
    ZERO = "0"
    ONE = "1+"
    TWO = "2+"
    THREE = "3+"


class Margin(enum.StrEnum):
    NEGATIVE = "negative"
    CLOSE = "close"
    POSITIVE = "positive"


Percent = Annotated[float, Field(ge=0, le=100)]
Score = Annotated[int, Field(ge=1, le=3)]
# Where a value came from: field name -> id of one of the case's records.
Sources = dict[str, Annotated[int, Field(ge=1)]]


class Sourced(Strict):
    sources: Sources | None = None

    @model_validator(mode="after")
    def sources_name_fields(self) -> Sourced:
        unknown = sorted(set(self.sources or {}) - set(type(self).model_fields) - {"sources"})
        if unknown:
            raise ValueError(
                f"sources names {', '.join(unknown)}, which are not fields here; use the "
                'field names, e.g. {"grade": <record id>}'
            )
        return self

    def problems(self) -> list[tuple[str, str]]:
        return []


class NottinghamComponents(Strict):
    """Elston-Ellis scores, each 1-3; the grade follows from their sum."""

    tubules: Score
    pleomorphism: Score
    mitoses: Score


class Diagnosis(Sourced):
    histologic_type: HistologicType | None = None
    laterality: Laterality | None = None
    grade: int | None = Field(default=None, ge=1, le=3)
    nottingham: NottinghamComponents | None = None
    er: ReceptorStatus | None = None
    er_percent: Percent | None = None
    er_intensity: Intensity | None = None
    pr: ReceptorStatus | None = None
    pr_percent: Percent | None = None
    pr_intensity: Intensity | None = None
    her2: Her2Status | None = None
    her2_ihc: Her2Ihc | None = None
    her2_ish_ratio: float | None = Field(default=None, ge=0, le=50)
    her2_copy_number: float | None = Field(default=None, ge=0, le=100)
    ki67_percent: Percent | None = None
    lymphovascular_invasion: bool | None = None
    margins: Margin | None = None
    closest_margin_mm: float | None = Field(default=None, ge=0, le=200)
    nodes_examined: int | None = Field(default=None, ge=0, le=100)
    nodes_positive: int | None = Field(default=None, ge=0, le=100)

    @model_validator(mode="after")
    def derive_from_components(self) -> Diagnosis:
        # A status left out but implied by its measurement is filled in (e.g. ER 5%
        # is low positive); a contradiction is reported by problems().
        for name, value in clinical.check_diagnosis(self._facts()).derived.items():
            setattr(self, name, value)
        return self

    def _facts(self) -> dict[str, object]:
        return self.model_dump(mode="json", exclude_none=True)

    def problems(self) -> list[tuple[str, str]]:
        return [(p.field, p.message) for p in clinical.check_diagnosis(self._facts()).problems]


class Stage(Sourced):
    # t, n, m: the categories as submitted; their prefix says clinical (c, yc) or
    # pathological (p, yp). clinical_* and pathological_* hold both sets when both
    # are known (e.g. after surgery).
    t: TCategory | None = None  # type: ignore[valid-type]
    n: NCategory | None = None  # type: ignore[valid-type]
    m: MCategory | None = None  # type: ignore[valid-type]
    clinical_t: TCategory | None = None  # type: ignore[valid-type]
    clinical_n: NCategory | None = None  # type: ignore[valid-type]
    clinical_m: MCategory | None = None  # type: ignore[valid-type]
    pathological_t: TCategory | None = None  # type: ignore[valid-type]
    pathological_n: NCategory | None = None  # type: ignore[valid-type]
    pathological_m: MCategory | None = None  # type: ignore[valid-type]
    # The 21-gene (Oncotype DX) recurrence score, 0-100.
    recurrence_score: int | None = Field(default=None, ge=0, le=100)
    # The stage groups as submitted; the board computes its own and flags differences.
    anatomic: StageGroup | None = None
    clinical_prognostic: StageGroup | None = None
    pathological_prognostic: StageGroup | None = None

    def problems(self) -> list[tuple[str, str]]:
        facts = self.model_dump(mode="json", exclude_none=True)
        return [(p.field, p.message) for p in clinical.check_stage(facts)]


class DoseUnit(enum.StrEnum):
    MG = "mg"
    MG_M2 = "mg/m2"
    MG_KG = "mg/kg"
    G = "g"
    MCG = "mcg"
    AUC = "AUC"
    UNITS = "units"
    GY = "Gy"


class Route(enum.StrEnum):
    ORAL = "oral"
    INTRAVENOUS = "intravenous"
    SUBCUTANEOUS = "subcutaneous"
    INTRAMUSCULAR = "intramuscular"
    TOPICAL = "topical"
    OTHER = "other"


class Medication(Strict):
    name: Text
    dose: float = Field(gt=0, le=100000)
    unit: DoseUnit
    route: Route
    # As written on the medication list: "daily", "every 3 weeks x 4", ...
    frequency: Text


class Plan(Sourced):
    neoadjuvant: bool | None = None
    surgery: Surgery | None = None
    reconstruction: bool | None = None
    chemotherapy: OptionalText = None
    radiation: bool | None = None
    endocrine: OptionalText = None
    targeted: OptionalText = None
    medications: Annotated[list[Medication], Field(max_length=50)] | None = None


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
    # An urgent case is due in URGENT_REVIEW_DAYS (3) instead of REVIEW_DAYS (7).
    urgent: bool = False

    @model_validator(mode="after")
    def no_repeated_specialty(self) -> CaseInput:
        if len(set(self.requested_specialties)) != len(self.requested_specialties):
            raise ValueError("requested_specialties lists a specialty twice")
        return self


class RestrictedInput(Strict):
    """The referrer restricts their case (a staff member or a public figure), or lifts it."""

    restricted: bool


class BreakGlassInput(Strict):
    """A coordinator's written reason for opening a restricted case (board/auth/policy.py)."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class PracticeSharingInput(Strict):
    """The administrator: whether the referrers of an institution share their cases."""

    share: bool
