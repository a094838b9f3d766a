"""The audit trail pages' filters (query string), validated by board/validation.py."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class TrailFilterInput(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    since: dt.date | None = Field(default=None, alias="from")
    until: dt.date | None = Field(default=None, alias="to")
    action: str | None = Field(default=None, max_length=60, pattern=r"^[a-z_.]+$")
    # Keyset pagination: the rows older than this id (the previous page's last row).
    before: int | None = Field(default=None, ge=1)

    def problems(self) -> list[tuple[str, str]]:
        if self.since and self.until and self.until < self.since:
            return [("to", "must be on or after the start of the period (from)")]
        return []
