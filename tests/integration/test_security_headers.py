"""Security headers on every kind of answer (pages, API, files, errors), and templates
that keep the Content-Security-Policy possible: no inline script, event handler or style
attribute anywhere in templates/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from board.auth.roles import Role
from board.cases import services as cases
from board.cases.schemas import CaseInput
from board.config import PROJECT_ROOT
from board.extensions import db
from board.validation import parse
from tests.support import factories as f
from tests.support.api import Api, sign_in

CSP_PARTS = [
    "script-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    "style-src 'self'",
]


@pytest.fixture
def world(app: Flask) -> Iterator[dict]:
    with app.app_context():
        referrer = f.user(Role.REFERRER)
        case = cases.create_draft(referrer, parse(CaseInput, f.case_body()))
        record = cases.add_record(
            referrer, case.id, kind="pathology_report", filename="p.pdf", data=f.pdf()
        )
        ids = {"email": referrer.email, "case": case.id, "record": record.id}
        db.session.remove()
    yield ids


def _check(response, *, no_store: bool = True, hsts: bool = True) -> None:
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    for part in CSP_PARTS:
        assert part in csp, part
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    assert ("Strict-Transport-Security" in headers) is hsts
    if hsts:
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    if no_store:
        assert headers["Cache-Control"] == "no-store"


def test_every_kind_of_answer_carries_the_headers(app, world):
    client = app.test_client()
    _check(client.get("/login"))  # anonymous page
    _check(client.get("/cases"))  # redirect to sign in
    _check(client.get("/api/v1/health"))
    _check(client.get("/api/v1/cases"))  # 401 JSON
    assert sign_in(client, world["email"]).status_code == 302
    _check(client.get("/cases"))
    _check(client.get(f"/cases/{world['case']}"))
    download = client.get(f"/records/{world['record']}")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    _check(download)
    _check(client.get("/cases/999999"))  # 404 page
    api = Api(app.test_client(), world["email"])
    _check(api.get(f"/cases/{world['case']}"))
    static = client.get("/static/board.css")
    _check(static, no_store=False)  # no patient data: the browser may cache it


def test_hsts_only_over_secure_transport(app, monkeypatch):
    monkeypatch.setitem(app.config, "SECURE_TRANSPORT", False)
    _check(app.test_client().get("/login"), hsts=False)


TEMPLATES = PROJECT_ROOT / "templates"
# Rendered only into the PDF by WeasyPrint (board/board_meetings/report.py), never served
# to a browser, so the CSP does not apply to it.
PDF_ONLY = {"board_meetings/second_opinion_document.html"}
INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"\son[a-z]+\s*=", re.I), "inline event handler"),
    (re.compile(r"\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style\b", re.I), "<style> element"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


def _templates() -> list[Path]:
    return sorted(
        p for p in TEMPLATES.rglob("*.html") if str(p.relative_to(TEMPLATES)) not in PDF_ONLY
    )


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_no_template_has_inline_script_or_style(path):
    text = path.read_text()
    found = [what for pattern, what in INLINE if pattern.search(text)]
    assert found == []


def test_the_scan_would_catch_each_kind_of_inline_code():
    samples = [
        "<script>alert(1)</script>",
        '<button onclick="go()">',
        '<div style="color:red">',
        "<style>p{}</style>",
        '<a href="javascript:go()">',
    ]
    for sample in samples:
        assert any(pattern.search(sample) for pattern, _ in INLINE), sample
    assert not any(p.search('<script src="/static/rows.js"></script>') for p, _ in INLINE)


def test_the_qr_code_is_inline_svg_without_style_or_script():
    from board.auth import mfa

    svg = mfa.qr_svg(mfa.provisioning_uri(mfa.new_secret(), "someone@example.test"))
    assert svg.startswith("<svg") and not any(p.search(svg) for p, _ in INLINE)
