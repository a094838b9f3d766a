"""Records' bytes: the store (board/records/store.py), encryption at rest
(crypto.py), what an upload must be (checks.py), and the services and commands that
tie them together (services.py, cli.py). The Record row itself is a case model."""

from __future__ import annotations

import io
from typing import IO

from flask import Flask


def init_app(app: Flask) -> None:
    from board.records import cli, services

    services.init_app(app)
    cli.register(app)

    base = app.request_class

    class InMemoryUploads(base):  # type: ignore[valid-type,misc]
        """Uploads stay in memory (bounded by MAX_CONTENT_LENGTH) instead of
        werkzeug's temporary file above 500 KB: a record's plaintext never touches
        the disk; only its encrypted file does."""

        def _get_file_stream(
            self,
            total_content_length: int | None,
            content_type: str | None,
            filename: str | None = None,
            content_length: int | None = None,
        ) -> IO[bytes]:
            return io.BytesIO()

    app.request_class = InMemoryUploads
