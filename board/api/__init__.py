from flask import Flask


def init_app(app: Flask) -> None:
    from board.api import views
    from board.extensions import csrf

    # Bearer tokens, not cookies, authenticate the API, so cross-site forgery does not apply.
    csrf.exempt(views.bp)
    app.register_blueprint(views.bp)
