from flask import Flask


def init_app(app: Flask) -> None:
    from board.audit import cli, models, services, views  # noqa: F401  (registers the table)

    services.init_app(app)
    app.cli.add_command(cli.audit_cli)
    app.register_blueprint(views.bp)
