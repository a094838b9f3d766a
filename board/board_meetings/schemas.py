from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from board.cases.schemas import Diagnosis, Plan, Stage, Strict
from board.validation import Id

LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20000)]


class ConsensusInput(Strict):
    summary: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)
    ]
    diagnosis: Diagnosis | None = None
    stage: Stage | None = None
    plan: Plan | None = None
    recommendations: LongText | None = None


ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Answer = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000)]


class MeetingInput(Strict):
    starts_at: AwareDatetime
    duration_minutes: Annotated[int, Field(ge=5, le=600)] = 60
    place: ShortText | None = None
    video_link: ShortText | None = None
    expected_specialties: list[ShortText] = []
    # A weekly series: this many meetings, a week apart, sharing a series id.
    weeks: Annotated[int, Field(ge=1, le=52)] = 1


class MoveInput(Strict):
    starts_at: AwareDatetime


class AttendanceInput(Strict):
    user_ids: list[Id]


class AgendaInput(Strict):
    case_id: Id


class ReorderInput(Strict):
    case_ids: list[Id]


class FollowUpInput(Strict):
    question: Answer


class AnswerInput(Strict):
    answer: Answer


class ImplementationInput(Strict):
    implementation: Literal["fully", "partly", "not"]
    note: Answer | None = None
