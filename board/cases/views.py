from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cases", __name__)


@bp.get("/cases")
def my_cases() -> str:
    return "todo"


@bp.get("/board")
def dashboard() -> str:
    return "todo"
