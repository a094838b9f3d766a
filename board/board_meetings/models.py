from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from board.auth.models import User
from board.db import JSONType, UTCDateTime, utcnow
from board.extensions import db


class Consensus(db.Model):  # type: ignore[name-defined,misc]
    """The board's signed conclusion on a case. A correction is a new version that
    points at the one it supersedes; signed versions are never edited."""

    __tablename__ = "consensus"
    __table_args__ = (UniqueConstraint("case_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    supersedes_id: Mapped[int | None] = mapped_column(ForeignKey("consensus.id"))
    summary: Mapped[str] = mapped_column(Text)
    diagnosis: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    stage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    recommendations: Mapped[str | None] = mapped_column(Text)
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    signed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    signed_by: Mapped[User] = relationship()
