"""The board: breast-cancer second opinions through a tumor board."""

from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    from board import (  # noqa: F401
        api,
        audit,
        auth,
        board_meetings,
        cases,
        concordance,
        models,
        notifications,
        reviews,
        security,
        templating,
    )
    from board.config import INSTANCE_DIR, PROJECT_ROOT, load_config
    from board.errors import register_error_handlers
    from board.extensions import celery_init_app, csrf, db, login_manager, migrate

    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder=str(PROJECT_ROOT / "templates"),
    )
    app.config.from_mapping(load_config(overrides))
    from board.errors import IdConverter

    app.url_map.converters["int"] = IdConverter
    INSTANCE_DIR.mkdir(exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)
    celery_init_app(app)

    audit.init_app(app)
    auth.init_app(app)
    cases.init_app(app)
    reviews.init_app(app)
    notifications.init_app(app)
    board_meetings.init_app(app)
    concordance.init_app(app)
    api.init_app(app)
    register_error_handlers(app)
    templating.init_app(app)
    security.init_app(app)

    from board.demo import register_cli

    register_cli(app)
    return app
