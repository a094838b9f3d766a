"""The page and API reads whose SQL statements are counted (tests/integration/
test_query_counts.py and bench/queries.py), and the counter itself.

Each read names the seeded account it runs as (the keys of bench/seed.py's result)
and its path, with {case_id} for the seeded case with reviews."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Read:
    name: str
    who: str  # coordinator, reviewer, referrer or admin
    path: str
    api: bool = False


READS = (
    Read("coordinator dashboard", "coordinator", "/board"),
    Read("reviewer inbox", "reviewer", "/assignments"),
    Read("referrer case list", "referrer", "/cases"),
    Read("case page (coordinator)", "coordinator", "/cases/{case_id}"),
    Read("case page (referrer)", "referrer", "/cases/{case_id}"),
    Read("case reviewers page", "coordinator", "/cases/{case_id}/staffing"),
    Read("follow-up questions waiting", "coordinator", "/follow-ups"),
    Read("second opinion page", "referrer", "/cases/{case_id}/second-opinion"),
    Read("analytics", "coordinator", "/analytics"),
    Read("meetings page", "coordinator", "/meetings"),
    Read("audit trail of the case", "coordinator", "/cases/{case_id}/audit"),
    Read("audit trail of the coordinator", "admin", "/users/{coordinator_id}/audit"),
    Read("notifications inbox", "reviewer", "/inbox"),
    Read("API case list (coordinator)", "coordinator", "/api/v1/cases", api=True),
    Read("API case list (referrer)", "referrer", "/api/v1/cases", api=True),
    Read("API case", "coordinator", "/api/v1/cases/{case_id}", api=True),
    Read("API assignments", "reviewer", "/api/v1/assignments", api=True),
)


@dataclass
class Statements:
    """The statements run on an engine while the counter is on."""

    sql: list[tuple[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sql)


@contextmanager
def counting(engine: Engine) -> Iterator[Statements]:
    found = Statements()

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool
    ) -> None:
        found.sql.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", before)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", before)


def run_read(
    app: Flask, client: FlaskClient, read: Read, seeded: dict[str, Any], engine: Engine
) -> Statements:
    """Runs one read (twice: the first warms caches such as the session touch) and
    returns the statements of the second; the response must be a 200."""
    path = read.path.format(case_id=seeded["case_id"], coordinator_id=seeded["coordinator"]["id"])
    headers = {"Authorization": f"Bearer {seeded[read.who]['token']}"} if read.api else {}
    client.get(path, headers=headers)
    with counting(engine) as found:
        response = client.get(path, headers=headers)
    assert response.status_code == 200, f"{read.name}: {path} gave {response.status_code}"
    return found
