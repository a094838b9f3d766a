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
    return render_template("auth/accounts.html", users=services.all_accounts())
