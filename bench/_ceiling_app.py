"""The framework's own ceiling, for bench/web.py: a bare Flask app on the board's config and
database (the same Flask-SQLAlchemy `db`, the same engine options), with two endpoints and
nothing else (no sessions, no login, no audit, no security headers):

- GET /ceiling/select: one primary-key SELECT through Flask-SQLAlchemy, answered as JSON
  (what an API read costs at the least);
- GET /ceiling/template: 50 rows by an indexed column (the cases' primary key), rendered
  in a Jinja template (bench/templates/ceiling.html: what a page costs at the least).

It is not part of the board: gunicorn runs it as `bench._ceiling_app:create_app()` with the
same settings as the board's web server, so the ratios in bench/web.py compare like with like.
A third endpoint, GET /floor/audited, is the board's token sign-in and read audit alone (see
there), measured for information.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template, request
from sqlalchemy import select

from board.config import load_config
from board.extensions import db


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    from board import models  # noqa: F401  (every table's model, as in the board)
    from board.auth.models import User
    from board.cases.models import Case

    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))
    app.config.from_mapping(load_config(overrides))
    db.init_app(app)

    @app.get("/ceiling/select")
    def one_select() -> Any:
        user = db.session.get(User, 1)
        assert user is not None
        return jsonify({"id": user.id, "email": user.email, "role": user.role})

    @app.get("/ceiling/template")
    def fifty_rows() -> str:
        rows = db.session.scalars(select(Case).where(Case.id > 0).order_by(Case.id).limit(50))
        return render_template("ceiling.html", cases=list(rows))

    # Not a ceiling: the floor of the board's API reads, for information. The board's own
    # bearer-token sign-in and the audit row of a read, committed with the response as the
    # board does it (board.auth.services, board.audit.services), and nothing else: what any
    # audited API read costs before it reads the data it is about. (Called from the view:
    # the audit module's request hooks would also run on the two ceilings above.)
    from board.audit import services as audit
    from board.auth.services import user_for_token

    @app.get("/floor/audited")
    def audited() -> Any:
        token = request.headers.get("Authorization", "").partition(" ")[2]
        user = user_for_token(token)
        if user is None:
            return jsonify({"error": "A valid bearer token is required"}), 401
        audit.record_read("case_view", actor=user, object_type="case", object_id=1, case_id=1)
        return audit.commit_reads(jsonify({"id": user.id, "role": user.role}))

    return app
