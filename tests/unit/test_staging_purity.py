"""board/staging is pure: it imports the standard library and itself, never a framework."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

STAGING = Path(__file__).resolve().parents[2] / "board" / "staging"
SOURCES = sorted(STAGING.rglob("*.py"))

FORBIDDEN = (
    "flask",
    "flask_sqlalchemy",
    "flask_login",
    "flask_wtf",
    "flask_migrate",
    "sqlalchemy",
    "celery",
    "kombu",
    "redis",
    "psycopg",
    "alembic",
    "pydantic",
)
# What the module may import: a short list of standard-library modules and its own package.
ALLOWED = {"__future__", "dataclasses", "functools", "math", "re", "typing", "collections", "enum"}


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # a relative import stays inside board.staging
                modules.add("board.staging")
            elif node.module:
                modules.add(node.module)
    return modules


def test_the_staging_package_has_its_three_modules():
    assert {p.name for p in SOURCES} >= {"__init__.py", "tables.py", "rules.py"}


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_staging_module_imports_flask_sqlalchemy_or_celery(path):
    for module in _imported_modules(path):
        root = module.split(".")[0]
        assert root not in FORBIDDEN, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_staging_modules_import_only_the_standard_library_and_board_staging(path):
    for module in _imported_modules(path):
        inside = module == "board.staging" or module.startswith("board.staging.")
        assert inside or module.split(".")[0] in ALLOWED, f"{path.name} imports {module}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_staging_modules_do_not_import_dynamically(path):
    source = path.read_text(encoding="utf-8")
    assert "importlib" not in source
    assert "__import__" not in source
