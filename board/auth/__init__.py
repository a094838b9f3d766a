from flask import Flask


def init_app(app: Flask) -> None:
    from board.auth import views
    from board.auth.sessions import DatabaseSessionInterface
    from board.extensions import login_manager

    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    app.session_interface = DatabaseSessionInterface()
    app.register_blueprint(views.bp)
