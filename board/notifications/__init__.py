from flask import Flask


def init_app(app: Flask) -> None:
    from board.notifications import models, views  # noqa: F401

    app.register_blueprint(views.bp)
