"""The audit trail pages: per case and per person, for coordinators and administrators."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request, url_for
from flask_login import login_required

from board.audit import trail
from board.audit.trail import Scope
from board.auth.roles import Role
from board.validation import InvalidInput
from board.web import Page, errors_by_field, require_role

bp = Blueprint("audit", __name__)


def _page(scope: Scope, endpoint: str, **ids: int) -> Page:
    user = require_role(Role.COORDINATOR, Role.ADMIN)
    try:
        filters = trail.parse_filters(request.args)
    except InvalidInput as exc:
        page = render_template(
            "audit/trail.html",
            page=None,
            values=request.args,
            errors=errors_by_field(exc.errors),
            endpoint=endpoint,
            ids=ids,
        )
        return page, 422
    found = trail.trail(user, scope, filters)
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "before" and v}
    return render_template(
        "audit/trail.html",
        page=found,
        values=request.args,
        errors={},
        endpoint=endpoint,
        ids=ids,
        args=args,
        csv_url=url_for(f"{endpoint}_csv", **{**ids, **args}),
        older=url_for(endpoint, **{**ids, **args, "before": found.next_before})
        if found.next_before
        else None,
    )


def _csv(scope: Scope, filename: str) -> Response:
    user = require_role(Role.COORDINATOR, Role.ADMIN)
    body = trail.trail_csv(user, scope, trail.parse_filters(request.args))
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.get("/cases/<int:case_id>/audit")
@login_required
def case_trail(case_id: int) -> Page:
    return _page(Scope(case_id=case_id), "audit.case_trail", case_id=case_id)


@bp.get("/cases/<int:case_id>/audit.csv")
@login_required
def case_trail_csv(case_id: int) -> Response:
    return _csv(Scope(case_id=case_id), f"audit-case-{case_id}.csv")


@bp.get("/users/<int:user_id>/audit")
@login_required
def user_trail(user_id: int) -> Page:
    return _page(Scope(user_id=user_id), "audit.user_trail", user_id=user_id)


@bp.get("/users/<int:user_id>/audit.csv")
@login_required
def user_trail_csv(user_id: int) -> Response:
    return _csv(Scope(user_id=user_id), f"audit-user-{user_id}.csv")
