from flask import Flask


def init_app(app: Flask) -> None:
    from board.board_meetings import models, views  # noqa: F401

    app.register_blueprint(views.bp)
