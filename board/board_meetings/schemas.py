from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints

from board.auth.roles import Specialty
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


# --- The coordinator's meeting pages: a date and a time (UTC) rather than one ISO value ---

MeetingPlace = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


class MeetingWhen(Strict):
    """When a meeting starts, as the page asks it: a date and a time, in UTC."""

    date: dt.date
    time: dt.time

    def starts_at(self) -> dt.datetime:
        return dt.datetime.combine(self.date, self.time.replace(tzinfo=None), tzinfo=dt.UTC)


class MeetingForm(MeetingWhen):
    duration_minutes: Annotated[int, Field(ge=5, le=600)] = 60
    place: MeetingPlace | None = None
    video_link: MeetingPlace | None = None
    expected_specialties: list[Specialty] = []
    # 1 is a single meeting; more makes a weekly series of that many meetings.
    weeks: Annotated[int, Field(ge=1, le=52)] = 1

    def problems(self) -> list[tuple[str, str]]:
        out = []
        if not self.place and not self.video_link:
            out.append(("place", "give a place (e.g. Room 4) or a video link"))
        if self.video_link and not self.video_link.startswith(("https://", "http://")):
            out.append(("video_link", "must be a web address starting with https://"))
        return out


class OutcomeForm(Strict):
    """The referrer's answer to: was the board's recommendation carried out?"""

    implementation: Literal["fully", "partly", "not"]
    note: Answer | None = None

    def problems(self) -> list[tuple[str, str]]:
        if self.implementation != "fully" and not self.note:
            return [("note", "say why the recommendation was not fully carried out")]
        return []
