"""The framework's own ceiling, for bench/web.py: a bare Flask app on the board's config and
database (the same Flask-SQLAlchemy `db`, the same engine options), with two endpoints and
nothing else (no sessions, no login, no audit, no security headers):

- GET /ceiling/select: one primary-key SELECT through Flask-SQLAlchemy, answered as JSON
  (what an API read costs at the least);
- GET /ceiling/template: 50 rows by an indexed column (the cases' primary key), rendered
  in a Jinja template (bench/templates/ceiling.html: what a page costs at the least).

It is not part of the board: gunicorn runs it as `bench._ceiling_app:create_app()` with the
same settings as the board's web server, so the ratios in bench/web.py compare like with like.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, jsonify, render_template
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

    return app
