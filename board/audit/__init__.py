from flask import Flask


def init_app(app: Flask) -> None:
    from board.audit import models  # noqa: F401  (registers the table)
