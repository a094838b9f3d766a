from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from board.auth import services
from board.auth.models import User
from board.auth.roles import Role
from board.errors import NotFound
from board.extensions import db, login_manager
from board.routing.schemas import AvailabilityInput
from board.validation import InvalidInput, parse
from board.web import Page, errors_by_field

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user and user.active else None


def home_for(user: User) -> str:
    role = Role(user.role)
    if role is Role.REFERRER:
        return url_for("cases.my_cases")
    if role is Role.COORDINATOR:
        return url_for("cases.dashboard")
    if role is Role.ADMIN:
        return url_for("auth.accounts")
    return url_for("reviews.inbox")


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str:
    if request.method == "POST":
        email = request.form.get("email", "")
        password = request.form.get("password", "")
        user = services.authenticate(email, password)
        if user is None:
            flash("That email and password do not match an active account.", "error")
            return render_template("auth/login.html", email=email), 401  # type: ignore[return-value]
        login_user(user)
        target = request.args.get("next", "")
        # Only same-site paths: an absolute "next" would be an open redirect.
        if not target or urlsplit(target).netloc or not target.startswith("/"):
            target = home_for(user)
        return redirect(target)
    return render_template("auth/login.html", email="")


@bp.post("/logout")
@login_required
def logout() -> Response:
    services.record_logout(current_user._get_current_object())  # type: ignore[attr-defined]
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/admin/accounts")
@login_required
def accounts() -> Response | str:
    if current_user.role != Role.ADMIN:
        raise NotFound()
    return render_template(
        "auth/accounts.html",
        users=services.all_accounts(),
        institutions=services.all_institutions(current_user._get_current_object()),  # type: ignore[attr-defined]
    )


@bp.post("/admin/institutions/<int:institution_id>/practice-sharing")
@login_required
def practice_sharing(institution_id: int) -> Response:
    """The administrator lets an institution's referrers share cases (or stops it)."""
    admin: User = current_user._get_current_object()  # type: ignore[attr-defined]
    share = request.form.get("share") == "true"
    institution = services.set_practice_sharing(admin, institution_id, share)
    flash(
        f"Referrers of {institution.name} now "
        + ("see each other's cases." if share else "see only the cases they submitted."),
        "success",
    )
    return redirect(url_for("auth.accounts"), code=303)


# --- A reviewer's times away ------------------------------------------------------------


def _reviewer() -> User:
    user: User = current_user._get_current_object()  # type: ignore[attr-defined]
    if user.specialty is None:
        raise NotFound()
    return user


def _availability_page(
    user: User, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Page:
    page = render_template(
        "auth/availability.html",
        windows=services.windows_for(user),
        fs={"data": values, "errors": errors},
    )
    return (page, status) if status != 200 else page


@bp.route("/availability", methods=["GET", "POST"])
@login_required
def availability() -> Page | Response:
    user = _reviewer()
    if request.method == "GET":
        return _availability_page(user, {}, {})
    values = {k: request.form.get(k, "").strip() for k in ("starts_at", "ends_at", "note")}
    try:
        data = parse(AvailabilityInput, {k: v for k, v in values.items() if v})
        window = services.add_window(user, data.starts_at, data.ends_at, data.note)
    except InvalidInput as exc:
        return _availability_page(user, values, errors_by_field(exc.errors), 422)
    flash(
        f"You are away from {window.starts_at:%Y-%m-%d %H:%M} to {window.ends_at:%Y-%m-%d %H:%M} "
        "UTC; no case is routed to you meanwhile.",
        "success",
    )
    return redirect(url_for("auth.availability"), code=303)


@bp.post("/availability/<int:window_id>/delete")
@login_required
def remove_availability(window_id: int) -> Response:
    services.remove_window(_reviewer(), window_id)
    flash("The time away is removed.", "success")
    return redirect(url_for("auth.availability"), code=303)
