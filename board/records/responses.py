"""How a record leaves the board: always as a download, never rendered in the page."""

from __future__ import annotations

from flask import Response

from board.cases.models import Record
from board.records.checks import attachment_disposition


def download(record: Record, data: bytes) -> Response:
    response = Response(data, mimetype=record.content_type)
    response.headers["Content-Disposition"] = attachment_disposition(record.filename)
    # The browser must take the declared type, not guess one from the bytes.
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Patient data: no copy in a browser's or a proxy's cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
