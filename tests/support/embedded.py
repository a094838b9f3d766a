"""The embedded `make run` mode's database for in-process tests: SQLite in a file,
migrated, with the records store in a temporary folder."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from flask import Flask

from tests.support.services import RECORDS_KEY


@contextmanager
def sqlite_board(tmp_path: Path, **overrides: Any) -> Iterator[Flask]:
    """An app on a migrated SQLite board, inside its app context. Building an app makes
    its Celery the default: the old one is put back after."""
    from celery import _state as celery_state
    from flask_migrate import upgrade

    from board import create_app
    from board.extensions import db

    default = celery_state.default_app
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'board.sqlite'}",
            "TESTING": True,
            "RECORDS_DIR": str(tmp_path / "records"),
            "RECORDS_KEY": RECORDS_KEY,
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "CELERY": {"broker_url": "memory://"},
            **overrides,
        }
    )
    try:
        with app.app_context():
            upgrade()
            yield app
            db.session.remove()
            db.engine.dispose()
    finally:
        celery_state.set_default_app(default)
