from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from board.auth import mfa, passwords, services
from board.auth.models import User
from board.auth.roles import ROLE_LABEL, Role
from board.auth.sessions import rotate_session
from board.db import utcnow
from board.errors import Conflict, NotFound
from board.extensions import db, login_manager
from board.routing.schemas import AvailabilityInput
from board.validation import InvalidInput, parse
from board.web import Page, errors_by_field

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user and user.active else None


@bp.before_app_request
def _say_why_the_session_ended() -> None:
    if getattr(session, "ended", False):
        session.ended = False  # type: ignore[attr-defined]
        config = current_app.config
        flash(
            f"Your session ended ({config['SESSION_IDLE_MINUTES']} minutes without activity, "
            f"or {config['SESSION_ABSOLUTE_HOURS']} hours after signing in); "
            "please sign in again.",
            "info",
        )


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


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an absolute "next" would be an open redirect.
    if not target or urlsplit(target).netloc or not target.startswith("/"):
        return None
    if target.startswith("//") or "\\" in target:
        return None
    return target


GENERIC_FAILURE = "That email and password do not match an active account."
THROTTLED = "Too many failed sign-ins. Wait a few minutes and try again."


def _login_page(email: str, status: int, message: str | None = None) -> Page:
    if message:
        flash(message, "error")
    page = render_template("auth/login.html", email=email)
    return (page, status) if status != 200 else page


def _finish_login(user: User, target: str | None = None) -> Response:
    """Both factors passed: a new session id, then the account is signed in."""
    pending = session.pop("mfa_pending", None)
    if isinstance(pending, dict):
        target = _safe_next(pending.get("next"))
    session.pop("mfa_enrol_secret", None)
    session.pop("csrf_token", None)  # a token issued before sign-in is not reused after
    rotate_session()
    login_user(user)
    services.record_login(user)
    return redirect(target or home_for(user))


def _pending_user() -> User | None:
    """The account that passed the password step of this session, for a few minutes."""
    pending = session.get("mfa_pending")
    if not isinstance(pending, dict):
        return None
    minutes = current_app.config["MFA_PENDING_MINUTES"]
    if utcnow().timestamp() - float(pending.get("at", 0)) > minutes * 60:
        session.pop("mfa_pending", None)
        session.pop("mfa_enrol_secret", None)
        return None
    user = db.session.get(User, int(pending["user_id"]))
    return user if user is not None and user.active else None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Page | Response:
    if request.method == "GET":
        return _login_page("", 200)
    email = request.form.get("email", "")
    password = request.form.get("password", "")
    try:
        user = services.check_password(email, password, request.remote_addr)
    except services.Throttled:
        return _login_page(email, 429, THROTTLED)
    if user is None:
        return _login_page(email, 401, GENERIC_FAILURE)
    if not services.mfa_required(user):
        return _finish_login(user, _safe_next(request.args.get("next")))
    # The password is right; the session (with a new id) remembers that for a few
    # minutes while the second factor is asked for.
    session["mfa_pending"] = {
        "user_id": user.id,
        "at": utcnow().timestamp(),
        "next": _safe_next(request.args.get("next")),
    }
    rotate_session()
    if user.totp_secret is None:
        return redirect(url_for("auth.enrol"), code=303)
    return redirect(url_for("auth.login_code"), code=303)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> Page | Response:
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"), code=303)
    if user.totp_secret is None:
        return redirect(url_for("auth.enrol"), code=303)
    if request.method == "GET":
        return render_template("auth/code.html")
    try:
        ok = services.check_code(user, request.form.get("code", ""), request.remote_addr)
    except services.Throttled:
        session.pop("mfa_pending", None)
        return _login_page("", 429, THROTTLED)
    if not ok:
        flash("That code is not valid (or was already used). Enter the current code.", "error")
        return render_template("auth/code.html"), 401  # type: ignore[return-value]
    return _finish_login(user)


@bp.route("/login/enrol", methods=["GET", "POST"])
def enrol() -> Page | Response:
    """First sign-in: set up the authenticator app, confirmed by its first code."""
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"), code=303)
    if user.totp_secret is not None:
        return redirect(url_for("auth.login_code"), code=303)
    secret = session.get("mfa_enrol_secret")
    if not isinstance(secret, str):
        secret = session["mfa_enrol_secret"] = mfa.new_secret()
    status = 200
    if request.method == "POST":
        try:
            ok = services.enrol_totp(
                user, secret, request.form.get("code", ""), request.remote_addr
            )
        except services.Throttled:
            session.pop("mfa_pending", None)
            return _login_page("", 429, THROTTLED)
        if ok:
            flash(
                "Your authenticator app is set up; it asks for a code at each sign-in.", "success"
            )
            return _finish_login(user)
        flash("That code does not match. Enter the code the app shows now.", "error")
        status = 401
    uri = mfa.provisioning_uri(secret, user.email)
    page = render_template("auth/enrol.html", uri=uri, qr=Markup(mfa.qr_svg(uri)), secret=secret)
    return (page, status) if status != 200 else page


@bp.post("/logout")
@login_required
def logout() -> Response:
    services.record_logout(current_user._get_current_object())  # type: ignore[attr-defined]
    logout_user()
    session.clear()
    rotate_session()  # the old id's row is deleted: a replayed cookie finds nothing
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password() -> Page | Response:
    status = 200
    errors: dict[str, str] = {}
    if request.method == "POST":
        try:
            services.change_password(
                current_user._get_current_object(),  # type: ignore[attr-defined]
                request.form.get("current_password", ""),
                request.form.get("new_password", ""),
                request.form.get("confirm_password", ""),
            )
        except InvalidInput as exc:
            errors, status = errors_by_field(exc.errors), 422
        else:
            flash("Your password is changed; your other sessions are signed out.", "success")
            return redirect(url_for("auth.index"), code=303)
    page = render_template(
        "auth/password.html", fs={"data": {}, "errors": errors}, hint=passwords.HINT
    )
    return (page, status) if status != 200 else page


@bp.get("/admin/accounts")
@login_required
def accounts() -> Response | str:
    if current_user.role != Role.ADMIN:
        raise NotFound()
    return render_template(
        "auth/accounts.html",
        users=services.all_accounts(),
        roles=list(Role),
        institutions=services.all_institutions(current_user._get_current_object()),  # type: ignore[attr-defined]
    )


@bp.post("/admin/accounts/<int:user_id>/role")
@login_required
def change_role(user_id: int) -> Response:
    if current_user.role != Role.ADMIN:
        raise NotFound()
    try:
        user = services.change_role(
            current_user._get_current_object(),  # type: ignore[attr-defined]
            user_id,
            request.form.get("role", ""),
        )
        flash(f"{user.name} is now {ROLE_LABEL[Role(user.role)].lower()}.", "success")
    except InvalidInput as exc:
        flash(
            "The role was not changed: " + "; ".join(f"{e.field} {e.message}" for e in exc.errors),
            "error",
        )
    except Conflict as exc:
        flash(str(exc), "error")
    return redirect(url_for("auth.accounts"), code=303)


@bp.post("/admin/accounts/<int:user_id>/reset-mfa")
@login_required
def reset_mfa(user_id: int) -> Response:
    user = services.reset_mfa(current_user._get_current_object(), user_id)  # type: ignore[attr-defined]
    flash(f"{user.name} sets up a new authenticator at their next sign-in.", "success")
    return redirect(url_for("auth.accounts"), code=303)


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
