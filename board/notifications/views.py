from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.wrappers import Response

from board.notifications import services

bp = Blueprint("notifications", __name__)


@bp.get("/inbox")
@login_required
def inbox() -> str:
    return render_template("notifications/inbox.html", notes=services.inbox(current_user))


@bp.post("/inbox/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int) -> Response:
    services.mark_read(current_user, notification_id)
    return redirect(request.referrer or url_for("notifications.inbox"))
