"""Migrations are code: they upgrade from nothing, downgrade to nothing, upgrade
again, and leave a schema the models agree with, on both engines the board runs
on (PostgreSQL in production, SQLite in the embedded `make run` mode)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from celery import _state as celery_state
from flask import Flask
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from board.config import PROJECT_ROOT
from board.extensions import db
from tests.support.services import DATABASE_URL, require_services


@contextmanager
def board_app(database_url: str) -> Iterator[Flask]:
    """An app on another database, inside its context. Building an app makes its
    Celery instance the process default, so the previous default is put back."""
    from board import create_app

    default, current = celery_state.default_app, getattr(celery_state._tls, "current_app", None)
    application = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    try:
        with application.app_context():
            yield application
            db.session.remove()
            db.engine.dispose()
    finally:
        celery_state.set_default_app(default)
        celery_state._set_current_app(current)


@pytest.fixture
def scratch_postgres() -> Iterator[str]:
    """A database of its own, created and dropped through the maintenance database."""
    require_services()
    name = f"board_migrations_{uuid.uuid4().hex[:12]}"
    url = make_url(DATABASE_URL)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _tables() -> set[str]:
    return set(inspect(db.engine).get_table_names())


def _autogenerate_diff() -> list[object]:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.metadata))


def _upgrade_downgrade_upgrade() -> None:
    model_tables = {t.name for t in db.metadata.sorted_tables}

    upgrade()
    assert _tables() == model_tables | {"alembic_version"}
    heads = ScriptDirectory(str(PROJECT_ROOT / "migrations")).get_heads()
    with db.engine.connect() as conn:
        assert conn.scalars(text("SELECT version_num FROM alembic_version")).all() == heads

    downgrade(revision="base")
    assert _tables() == {"alembic_version"}
    with db.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 0

    upgrade()
    assert _tables() == model_tables | {"alembic_version"}
    assert _autogenerate_diff() == []


def test_postgres_migrations_upgrade_downgrade_and_upgrade_again_with_no_autogenerate_diff(
    scratch_postgres: str,
) -> None:
    with board_app(scratch_postgres):
        _upgrade_downgrade_upgrade()
        # A real downgrade leaves nothing behind: no sequence, no type, no stray index.
        downgrade(revision="base")
        with db.engine.connect() as conn:
            leftovers = conn.scalars(
                text(
                    "SELECT c.relname FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = 'public' AND c.relname NOT LIKE 'alembic_version%'"
                )
            ).all()
            types = conn.scalars(
                text(
                    "SELECT t.typname FROM pg_type t "
                    "JOIN pg_namespace n ON n.oid = t.typnamespace "
                    "WHERE n.nspname = 'public' AND t.typtype = 'e'"
                )
            ).all()
        assert leftovers == []
        assert types == []


def test_sqlite_migrations_upgrade_downgrade_and_upgrade_again_in_batch_mode(
    tmp_path: Path,
) -> None:
    with board_app(f"sqlite:///{tmp_path / 'board.sqlite'}"):
        _upgrade_downgrade_upgrade()
