"""The analytics pages: the dashboard with its charts, and the same figures as CSV."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request
from flask_login import login_required

from board.auth.roles import Role
from board.concordance import charts, published
from board.concordance import services as analytics
from board.validation import InvalidInput
from board.web import REASON_LABEL, Page, errors_by_field, label_of, require_role

bp = Blueprint("concordance", __name__)


def _context(**extra: Any) -> dict[str, Any]:
    return {
        "charts": charts,
        "percent": published.percent,
        "reason_label": lambda value: label_of(REASON_LABEL, value),
        "level_label": analytics.LEVEL_LABEL,
        "dimension_label": analytics.DIMENSION_LABEL,
        "timepoints": analytics.TIMEPOINT_CHOICES,
        "specialties": analytics.SPECIALTY_CHOICES,
        "colour": charts.LEVEL_COLOUR,
        "values": request.args,
        "errors": {},
        **extra,
    }


@bp.get("/analytics")
@login_required
def dashboard() -> Page:
    user = require_role(Role.COORDINATOR, Role.ADMIN)
    institutions = [(str(i), name) for i, name in analytics.institution_choices(user)]
    try:
        filters = analytics.parse_filters(request.args)
    except InvalidInput as exc:
        page = render_template(
            "concordance/analytics.html",
            **_context(d=None, institutions=institutions, errors=errors_by_field(exc.errors)),
        )
        return page, 422
    figures = analytics.dashboard(user, filters)
    return render_template(
        "concordance/analytics.html", **_context(d=figures, institutions=institutions)
    )


@bp.get("/analytics.csv")
@login_required
def export() -> Response:
    user = require_role(Role.COORDINATOR, Role.ADMIN)
    filters = analytics.parse_filters(request.args)
    figures = analytics.dashboard(user, filters, action="analytics_export")
    return Response(
        analytics.to_csv(figures),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="board-analytics.csv"'},
    )
