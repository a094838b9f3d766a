"""What a reviewer records: a verdict per dimension (domain.md, "What a reviewer records")."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Discriminator, StringConstraints, Tag, model_validator

from board.auth.roles import Specialty
from board.cases.schemas import Diagnosis, Plan, Stage, Strict
from board.reviews.models import Dimension, Severity, Verdict
from board.reviews.rules import DifferReason, Retest
from board.validation import Id

Rationale = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8000)]
FreeText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=8000)]


class VerdictInput(Strict):
    verdict: Verdict
    severity: Severity | None = None
    rationale: Rationale | None = None
    alternative: Any = None
    # Why it differs; when left out, the board derives them from the alternative.
    reasons: list[DifferReason] | None = None

    @model_validator(mode="after")
    def differ_needs_detail(self) -> VerdictInput:
        if self.verdict == Verdict.CONCUR:
            if self.severity is not None:
                raise ValueError("a concur has no severity; leave severity empty")
            if self.reasons:
                raise ValueError("a concur has no reasons to differ; leave reasons empty")
            self.alternative = None
            return self
        missing = []
        if self.severity is None:
            missing.append("a severity (minor: no change in management; major: changes it)")
        if not self.alternative:
            missing.append("your alternative")
        if not self.rationale:
            missing.append("a rationale")
        if missing:
            raise ValueError("a differ needs " + ", ".join(missing))
        return self

    def alternative_json(self) -> dict[str, Any] | None:
        """The alternative as stored: the structured fields, or {"text": ...} for prose."""
        if self.alternative is None:
            return None
        if isinstance(self.alternative, str):
            return {"text": self.alternative}
        return self.alternative.model_dump(mode="json", exclude_none=True)  # type: ignore[no-any-return]


def _alternative_kind(value: Any) -> str:
    return "free-text" if isinstance(value, str) else "structured"


# The alternative uses the same fields as the case's own diagnosis, stage or plan,
# so it can be compared field by field; free text is accepted for what fields cannot say.
# The discriminator picks one branch, so an error names only the fields that were sent.
def _alternative(model: type[Strict]) -> Any:
    return Annotated[
        Annotated[model, Tag("structured")] | Annotated[FreeText, Tag("free-text")],
        Discriminator(_alternative_kind),
    ]


class DiagnosisVerdict(VerdictInput):
    alternative: _alternative(Diagnosis) | None = None  # type: ignore[valid-type]


class StageVerdict(VerdictInput):
    alternative: _alternative(Stage) | None = None  # type: ignore[valid-type]


class PlanVerdict(VerdictInput):
    alternative: _alternative(Plan) | None = None  # type: ignore[valid-type]


class ReviewInput(Strict):
    diagnosis: DiagnosisVerdict
    stage: StageVerdict
    plan: PlanVerdict
    additional_options: FreeText | None = None
    # Re-testing the reviewer recommends before the board decides (e.g. HER2 by ISH).
    retesting: list[Retest] | None = None

    def verdicts(self) -> dict[str, VerdictInput]:
        return {"diagnosis": self.diagnosis, "stage": self.stage, "plan": self.plan}


class DeclineInput(Strict):
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]


class TieBreakInput(Strict):
    """What the coordinator sends to ask for a tie-break (the API body)."""

    specialty: Specialty
    dimension: Dimension
    # Left out, the routing policy picks the least-loaded eligible reviewer.
    reviewer_id: Id | None = None
