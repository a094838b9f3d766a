"""Domain errors and how the web and the API show them."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter, Map

from board.validation import InvalidInput


class IdConverter(IntegerConverter):
    """`<int:...>` in every rule: an id no integer key can hold (above 2**31 - 1) does
    not match, so it is a 404 like any missing id instead of a database error."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, *args, **kwargs)


class NotFound(Exception):
    """Missing, or not the caller's to see: the two must look the same."""


class BreakGlassRequired(Exception):
    """A restricted case the coordinator knows exists (it is listed, masked) but may
    open only with a break-glass reason (board/auth/policy.py)."""

    def __init__(self, case_id: int):
        super().__init__("restricted case")
        self.case_id = case_id


class Conflict(Exception):
    """The action does not fit the object's current state (e.g. a second review)."""


class IncompleteCase(Exception):
    def __init__(self, missing: list[dict[str, str]]):
        super().__init__("the case lacks required records")
        self.missing = missing


class TooLarge(Exception):
    """An upload above MAX_CONTENT_LENGTH: 413, nothing written."""

    def __init__(self, limit: int):
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


class RecordUnavailable(Exception):
    """A record's stored bytes are missing or fail their integrity check: not sent."""

    def __init__(self, record_id: int, problem: str):
        super().__init__(f"record {record_id}: {problem}")
        self.record_id = record_id
        self.problem = problem


def too_large_message(limit: int) -> str:
    return f"The file is larger than the {limit // (1024 * 1024)} MB the board accepts"


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, error: str, details: Any = None) -> Any:
    if wants_json():
        return jsonify({"error": error, "details": details}), status
    return render_template("error.html", status=status, error=error, details=details), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> Any:
        return error_response(404, "Not found")

    @app.errorhandler(BreakGlassRequired)
    def _break_glass(exc: BreakGlassRequired) -> Any:
        if not wants_json():
            from flask import redirect, url_for

            return redirect(url_for("cases.break_glass", case_id=exc.case_id), code=303)
        return error_response(
            403,
            "This case is restricted: open it with break-glass and a written reason",
            f"POST /api/v1/cases/{exc.case_id}/break-glass with a reason",
        )

    @app.errorhandler(Conflict)
    def _conflict(exc: Conflict) -> Any:
        return error_response(409, str(exc))

    @app.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput) -> Any:
        return error_response(422, "Some fields need attention", [e.as_dict() for e in exc.errors])

    @app.errorhandler(IncompleteCase)
    def _incomplete(exc: IncompleteCase) -> Any:
        if wants_json():
            return jsonify(
                {
                    "error": "The case lacks records its timepoint requires",
                    "details": exc.missing,
                    "missing_records": [m["kind"] for m in exc.missing],
                    "errors": [m["message"] for m in exc.missing],
                }
            ), 422
        return error_response(422, "The case lacks records its timepoint requires", exc.missing)

    @app.errorhandler(TooLarge)
    def _too_large(exc: TooLarge) -> Any:
        return error_response(413, too_large_message(exc.limit))

    @app.errorhandler(RecordUnavailable)
    def _unavailable(exc: RecordUnavailable) -> Any:
        # Our side, not the caller's: the stored file is missing or not what was uploaded.
        return error_response(
            500,
            f"Record #{exc.record_id} failed its integrity check (its stored file is "
            f"{exc.problem}); it was not sent. The coordinators have been told.",
        )

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Any:
        messages = {
            404: "Not found",  # the same words as a denied or missing object
            413: too_large_message(app.config.get("MAX_CONTENT_LENGTH") or 0),
            400: exc.description or "The request could not be read",
        }
        return error_response(exc.code or 500, messages.get(exc.code or 0, exc.name))

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Any:
        # Logged with the traceback for operators; the user never sees a stack trace.
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "Something went wrong on our side; nothing you sent was lost")
