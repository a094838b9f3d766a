from __future__ import annotations

from flask import Blueprint

bp = Blueprint("reviews", __name__)


@bp.get("/assignments")
def inbox() -> str:
    return "todo"
