"""GET /api/v1/staging: the AJCC 8th stage group calculator over HTTP.

No patient data goes in or out, so no token is needed: integrations can check a
stage before they create a case.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request

from board.api.views import bp
from board.staging import KINDS, explain
from board.validation import FieldError, InvalidInput

_CATEGORY_PARAMS = ("t", "n", "m")


@bp.get("/staging")
def staging() -> Any:
    args = request.args
    missing = [
        FieldError(name, "is required")
        for name in ("kind", *_CATEGORY_PARAMS)
        if not args.get(name)
    ]
    if missing:
        raise InvalidInput(missing)
    kind = args["kind"]
    if kind not in KINDS:
        raise InvalidInput([FieldError("kind", f"must be one of {', '.join(KINDS)}")])
    score: float | None = None
    if args.get("recurrence_score"):
        try:
            score = float(args["recurrence_score"])
        except ValueError:
            raise InvalidInput(
                [FieldError("recurrence_score", "must be a number from 0 to 100")]
            ) from None
    try:
        result = explain(
            kind,
            args["t"],
            args["n"],
            args["m"],
            grade=args.get("grade") or None,
            er=args.get("er") or None,
            pr=args.get("pr") or None,
            her2=args.get("her2") or None,
            recurrence_score=score,
        )
    except ValueError as exc:
        # The staging module's messages read "field: what is wrong; allowed: ...".
        field, _, message = str(exc).partition(": ")
        raise InvalidInput([FieldError(field, message or str(exc))]) from None
    return jsonify(
        {
            "stage": result.stage,
            "kind": result.kind,
            "edition": result.edition,
            "explanation": result.explanation,
            "table": result.table,
            "row": result.row,
            "rule": result.rule,
        }
    )
