"""What the coordinator and the reviewers send to steer routing (the API bodies; the
pages build the same models from their forms)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints, WithJsonSchema

from board.auth.roles import Specialty
from board.cases.schemas import Strict

_WHEN = "must be a date and time written as YYYY-MM-DDTHH:MM, e.g. 2026-05-04T09:00 (UTC)"


def _utc(value: Any) -> Any:
    """An ISO 8601 date and time; one without a zone is read as UTC, the board's clock."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(_WHEN) from None
    if not isinstance(value, dt.datetime):
        raise ValueError(_WHEN)
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


UtcDateTime = Annotated[
    dt.datetime,
    BeforeValidator(_utc),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class SpecialtyChangeInput(Strict):
    """The coordinator adds or removes specialties (domain.md: "may add or remove any")."""

    add: list[Specialty] = Field(default_factory=list)
    remove: list[Specialty] = Field(default_factory=list)


class UrgencyInput(Strict):
    urgent: bool


class AutoReassignInput(Strict):
    on: bool


class AvailabilityInput(Strict):
    """A time a reviewer is away; routing passes them over while it lasts."""

    starts_at: UtcDateTime
    ends_at: UtcDateTime
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
