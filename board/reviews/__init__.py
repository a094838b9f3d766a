from flask import Flask


def init_app(app: Flask) -> None:
    from board.reviews import views

    app.register_blueprint(views.bp)
