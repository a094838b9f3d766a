"""Every page a demo account reaches by following the links it is shown answers, on
PostgreSQL and on SQLite (the embedded `make run` mode). The two dialects differ: a
statement PostgreSQL takes and SQLite refuses (a LIMIT inside a UNION ALL) once gave
the reviewer's inbox a 500 in `make run` while every PostgreSQL test passed."""

from __future__ import annotations

import html
import re
from collections import deque
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask, current_app
from flask.testing import FlaskClient

from board.demo_seed import ACCOUNTS, seed
from tests.support.api import sign_in
from tests.support.embedded import sqlite_board

PASSWORD = "demo-password-for-tests"
LINK = re.compile(r'href="(/[^"#]*)"')
# Files, not pages (a record's PDF, the second opinion's PDF, the analytics export).
NOT_A_PAGE = re.compile(r"^/static/|/records/\d+|\.pdf$|/pdf$|/export")
PAGES_PER_ACCOUNT = 60


@pytest.fixture(params=["postgresql", "sqlite"])
def demo_board(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    if request.param == "postgresql":
        request.getfixturevalue("ctx")
        seed(PASSWORD)
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    with sqlite_board(tmp_path, WTF_CSRF_ENABLED=False) as app:
        seed(PASSWORD)
        yield app


def crawl(client: FlaskClient, start: str) -> dict[str, int]:
    """Each page reached from `start` by its links (same site, GET), breadth first: its
    status code."""
    statuses: dict[str, int] = {}
    queue = deque([start])
    while queue and len(statuses) < PAGES_PER_ACCOUNT:
        path = queue.popleft()
        if path in statuses:
            continue
        response = client.get(path)
        statuses[path] = response.status_code
        if response.status_code in (302, 303):
            queue.append(response.headers["Location"])
        elif response.status_code == 200 and response.mimetype == "text/html":
            for link in LINK.findall(response.get_data(as_text=True)):
                link = html.unescape(link)
                if link not in statuses and not NOT_A_PAGE.search(link):
                    queue.append(link)
    return statuses


@pytest.mark.parametrize("email", [account[0] for account in ACCOUNTS])
def test_every_page_a_demo_account_is_shown_answers(demo_board: Flask, email: str) -> None:
    client = demo_board.test_client()
    signed_in = sign_in(client, email, PASSWORD)
    assert signed_in.status_code in (302, 303), signed_in.text
    statuses = crawl(client, signed_in.headers["Location"])
    failed = {path: status for path, status in statuses.items() if status not in (200, 302, 303)}
    assert not failed, failed
    # The crawl saw the account's pages, not only its landing page.
    assert sum(status == 200 for status in statuses.values()) >= 4, statuses
