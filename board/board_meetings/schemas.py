from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from board.cases.schemas import Diagnosis, Plan, Stage, Strict

LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20000)]


class ConsensusInput(Strict):
    summary: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)
    ]
    diagnosis: Diagnosis | None = None
    stage: Stage | None = None
    plan: Plan | None = None
    recommendations: LongText | None = None
