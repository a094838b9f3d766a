from __future__ import annotations

from flask import Blueprint

bp = Blueprint("board_meetings", __name__)
