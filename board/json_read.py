"""Several small reads in one statement: each part becomes a JSON array the database
builds, and the statement returns one column per part.

A page that shows a case file or a dashboard needs a handful of short lists, each an
indexed lookup taking a few hundredths of a millisecond in the database; asked one by
one, each costs a round trip and SQLAlchemy's work on both sides (a quarter of a
millisecond of CPU or more). Asked together the database does the same lookups and the
page pays for one statement (board/cases/case_file.py, board/cases/dashboard.py).

PostgreSQL builds the arrays with json_agg(json_build_object(...)); SQLite (the
embedded `make run` mode) with json_group_array(json_object(...)), from the same part
definitions. Each part is a subquery (its own WHERE, ORDER BY and LIMIT), aggregated in
the order the subquery gives (PostgreSQL documents that a sorted subquery feeds an
aggregate in order; SQLite keeps it).

The SQL is built once per dialect from constants (`Part` definitions in the code, never a
value from a request); values are bound parameters.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import TextClause, text


@dataclass(frozen=True)
class Field:
    key: str
    sql: str
    # A JSON column, embedded as JSON (SQLite keeps it as text, which json() reads back).
    json: bool = False


@dataclass(frozen=True)
class Part:
    """One list: SELECT <fields> FROM <source> WHERE <where> ORDER BY ... LIMIT ..."""

    name: str
    source: str
    where: str
    fields: tuple[Field, ...]
    order_by: str | None = None
    limit: int | None = None


def statement(dialect: str, parts: Sequence[Part]) -> TextClause:
    columns = []
    for part in parts:
        inner = ", ".join(f"{f.sql} AS {f.key}" for f in part.fields)
        query = f"SELECT {inner} FROM {part.source} WHERE {part.where}"
        if part.order_by:
            query += f" ORDER BY {part.order_by}"
        if part.limit is not None:
            query += f" LIMIT {int(part.limit)}"
        if dialect == "postgresql":
            pairs = ", ".join(f"'{f.key}', t.{f.key}" for f in part.fields)
            array = f"coalesce(json_agg(json_build_object({pairs})), '[]')"
        else:
            pairs = ", ".join(
                f"'{f.key}', {f'json(t.{f.key})' if f.json else f't.{f.key}'}" for f in part.fields
            )
            array = f"coalesce(json_group_array(json_object({pairs})), '[]')"
        columns.append(f"(SELECT {array} FROM ({query}) AS t) AS {part.name}")
    return text("SELECT " + ",\n       ".join(columns))


def rows(raw: Any) -> list[dict[str, Any]]:
    """One part's array: psycopg decodes JSON, sqlite3 hands back text."""
    return json.loads(raw) if isinstance(raw, str) else list(raw)


def time(value: str | None) -> dt.datetime | None:
    """A timestamp as PostgreSQL's JSON gives it (ISO 8601 with its offset) or SQLite
    keeps it (naive UTC text), as an aware UTC datetime."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def at(value: str) -> dt.datetime:
    """A timestamp that is never NULL."""
    parsed = time(value)
    assert parsed is not None
    return parsed
