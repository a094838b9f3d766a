"""The case lists page by keyset (?before=<case id>, 50 a page, newest first); an
argument that is not an id shows the first page (board/web.py id_arg)."""

from __future__ import annotations

import re

from flask import Flask

from board.auth.roles import Role
from board.cases import services as cases
from board.cases.schemas import CaseInput
from board.validation import parse
from tests.support import factories as f
from tests.support.api import sign_in

CASES = 53  # one full page of 50 and three older
ROW = re.compile(r'<td><a href="/cases/(\d+)">#')
OLDER = re.compile(r'href="/cases\?before=(\d+)">Older cases')


def _listed(html: str) -> list[int]:
    return [int(case_id) for case_id in ROW.findall(html)]


def test_the_referrers_list_pages_by_keyset_and_ignores_what_is_not_an_id(app: Flask) -> None:
    with app.app_context():
        referrer = f.user(Role.REFERRER, f.institution())
        email = referrer.email
        body = parse(CaseInput, f.case_body())
        ids = [cases.create_draft(referrer, body).id for _ in range(CASES)]
    client = app.test_client()
    assert sign_in(client, email).status_code in (302, 303)

    first = client.get("/cases").get_data(as_text=True)
    newest_first = sorted(ids, reverse=True)
    assert _listed(first) == newest_first[:50]
    older = OLDER.search(first)
    assert older is not None and int(older.group(1)) == newest_first[49]

    second = client.get(f"/cases?before={older.group(1)}").get_data(as_text=True)
    assert _listed(second) == newest_first[50:]
    assert OLDER.search(second) is None and "Newest cases" in second

    for junk in ("abc", "0", "-5", "1.5", "²", str(2**31), "99999999999"):
        page = client.get(f"/cases?before={junk}")
        assert page.status_code == 200, junk
        assert _listed(page.get_data(as_text=True)) == newest_first[:50], junk
