"""Jinja helpers: labels in the domain's words and times in the reader's zone."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask

from board.auth.roles import ROLE_LABEL, SPECIALTY_LABEL, Role, Specialty
from board.cases.rules import (
    RECORD_LABEL,
    STATUS_LABEL,
    TIMEPOINT_LABEL,
    CaseStatus,
    RecordKind,
    Timepoint,
)


def _label(table: dict[Any, str], enum: type, value: str | None) -> str:
    if value is None:
        return ""
    try:
        return table[enum(value)]
    except ValueError:
        return str(value)


def when(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    # Stored and shown in UTC until users carry a time-zone preference.
    return value.astimezone(dt.UTC).strftime(fmt) if value else "—"


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        role_label=lambda v: _label(ROLE_LABEL, Role, v),
        specialty_label=lambda v: _label(SPECIALTY_LABEL, Specialty, v),
        status_label=lambda v: _label(STATUS_LABEL, CaseStatus, v),
        record_label=lambda v: _label(RECORD_LABEL, RecordKind, v),
        timepoint_label=lambda v: _label(TIMEPOINT_LABEL, Timepoint, v),
    )
    app.jinja_env.filters["when"] = when
    app.jinja_env.filters["humanize"] = lambda v: str(v).replace("_", " ") if v is not None else ""
