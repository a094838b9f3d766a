from flask import Flask


def init_app(app: Flask) -> None:
    from board import records
    from board.cases import views

    app.register_blueprint(views.bp)
    records.init_app(app)
