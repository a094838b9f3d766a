from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class FhirImport(db.Model):  # type: ignore[name-defined,misc]
    """Where a case came from when an EHR sent it as an mCODE Bundle: the warnings the
    import raised (shown on the case page), the procedures of the patient's history and
    the facts the structured case has no field for (the tumour size)."""

    __tablename__ = "fhir_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    imported_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    bundle_type: Mapped[str] = mapped_column(String(20))
    bundle_identifier: Mapped[str | None] = mapped_column(String(200))
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    extras: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
