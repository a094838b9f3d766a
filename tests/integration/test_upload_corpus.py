"""The upload corpus (issue 6): hostile files are refused through the page form and the
API with a clear message and nothing written (no row, no file, no upload audit row);
real PDFs are accepted and come back intact, as attachments; and the raw storage (the
records folder and the database) holds no plaintext of a canary PDF. Each test runs on
both record store backends (the `stored` fixture: the file system, and an S3 bucket on a
real S3-compatible server).

A path-traversal name with real PDF content is *accepted*, stored under a random name,
with only its last component kept as metadata (`passwd.pdf`): the name never becomes a
path. Names with NUL, control or direction-override characters are refused."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from board.audit.models import AuditEvent
from board.cases.models import Record, RecordBlob
from board.extensions import db
from tests.support import factories as f
from tests.support.api import Api
from tests.support.hostile_files import Upload, compressed_pdf, content_stream, hostile
from tests.support.s3 import RawStorage
from tests.support.services import DATABASE_URL
from tests.web import test_pages
from tests.web.test_pages import World

world = test_pages.world  # the page tests' accounts and signed-in clients

CORPUS = hostile()
CANARY = "Zebulon-Canary-7f3a9 biopsy text"


def _new_case(world: World) -> tuple[Api, int]:
    api = Api(world.app.test_client(), world.email("referrer"))
    created = api.post("/cases", f.case_body())
    assert created.status_code == 201, created.get_json()
    return api, created.get_json()["id"]


def _via_page(world: World, case_id: int, filename: str, data: bytes) -> tuple[int, str]:
    response = world.client("referrer").post(
        f"/cases/{case_id}/records",
        data={"kind": "pathology_report", "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
    return response.status_code, response.get_data(as_text=True)


def _via_api(world: World, case_id: int, filename: str, data: bytes) -> tuple[int, str]:
    api = Api(world.app.test_client(), world.email("referrer"))
    response = api.upload(case_id, "pathology_report", data, filename)
    body = response.get_json()
    if response.status_code < 400:
        return response.status_code, str(body)
    return response.status_code, " ".join(
        [body["error"], *(d["message"] for d in body.get("details") or [])]
    )


VIA: dict[str, Callable[[World, int, str, bytes], tuple[int, str]]] = {
    "page": _via_page,
    "api": _via_api,
}


def _nothing_written(app: Flask, stored: RawStorage) -> None:
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Record)) == 0
        assert db.session.scalar(select(func.count()).select_from(RecordBlob)) == 0
        uploads = select(func.count()).where(AuditEvent.action == "record_upload")
        assert db.session.scalar(uploads) == 0
        db.session.remove()
    assert stored.keys() == []


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize("upload", CORPUS, ids=[u.name for u in CORPUS])
def test_a_hostile_upload_is_refused_with_a_clear_message_and_nothing_is_written(
    app: Flask, world: World, stored: RawStorage, upload: Upload, via: str
) -> None:
    _, case_id = _new_case(world)
    status, text = VIA[via](world, case_id, upload.filename, upload.data)
    assert status == 422, text
    assert upload.message in text.replace("&#34;", '"').replace("&#39;", "'")
    if via == "page":
        assert "The record was not uploaded" in text
    _nothing_written(app, stored)


def test_the_corpus_holds_every_kind_of_hostile_file_the_issue_lists() -> None:
    names = {u.name for u in CORPUS}
    assert len(CORPUS) >= 12
    for needed in (
        "elf-executable-named-pdf",
        "windows-executable-named-pdf",
        "html-named-pdf",
        "svg-named-pdf",
        "jpeg-pdf-polyglot",
        "pdf-zip-polyglot",
        "empty-file",
        "truncated-pdf",
        "header-only-pdf",
        "encrypted-pdf",
        "zero-page-pdf",
        "traversal-name-with-html",
        "nul-byte-in-name",
        "wrong-extension",
    ):
        assert needed in names


@pytest.mark.parametrize("via", VIA)
def test_an_oversize_upload_is_refused_with_413_and_nothing_is_written(
    app: Flask, world: World, stored: RawStorage, via: str
) -> None:
    _, case_id = _new_case(world)
    limit = app.config["MAX_CONTENT_LENGTH"]
    big = f.pdf() + b"%" + b"0" * limit
    status, text = VIA[via](world, case_id, "scan.pdf", big)
    assert status == 413
    assert "larger than the 20 MB the board accepts" in text
    _nothing_written(app, stored)


class _Body(io.RawIOBase):
    """A request body that counts what the server reads of it."""

    def __init__(self, size: int):
        self.size = size
        self.position = 0
        self.read_bytes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = base + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        n = max(0, min(len(buffer), self.size - self.position))
        buffer[:n] = b"0" * n
        self.position += n
        self.read_bytes += n
        return n


@pytest.mark.parametrize("via", VIA)
def test_the_size_limit_applies_before_the_body_is_read(
    app: Flask, world: World, stored: RawStorage, via: str
) -> None:
    _, case_id = _new_case(world)
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = _Body(limit + 1)
    headers = {"Content-Length": str(limit + 1)}
    boundary = "x" * 20
    if via == "api":
        client = world.app.test_client()
        headers |= Api(client, world.email("referrer")).headers
        url = f"/api/v1/cases/{case_id}/records"
    else:
        client = world.client("referrer")
        url = f"/cases/{case_id}/records"
    response = client.post(
        url,
        input_stream=body,
        headers=headers,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert body.read_bytes == 0
    _nothing_written(app, stored)


ACCEPTED = [
    ("plain-pdf", "pathology.pdf", lambda: f.pdf("Core biopsy, left breast")),
    ("compressed-pdf", "Pathology Report.PDF", lambda: compressed_pdf("Grade 2 IDC")),
    ("unicode-name", "Befund Müller \u2013 Zweitmeinung.pdf", lambda: f.pdf("Befund")),
    ("traversal-name", "../../etc/passwd.pdf", lambda: f.pdf("Operative report")),
]
STORED_NAME = {
    "plain-pdf": "pathology.pdf",
    "compressed-pdf": "Pathology Report.PDF",
    "unicode-name": "Befund Müller \u2013 Zweitmeinung.pdf",
    "traversal-name": "passwd.pdf",
}
DISPOSITION = {
    "plain-pdf": "attachment; filename=\"pathology.pdf\"; filename*=UTF-8''pathology.pdf",
    "compressed-pdf": (
        "attachment; filename=\"Pathology Report.PDF\"; filename*=UTF-8''Pathology%20Report.PDF"
    ),
    "unicode-name": (
        'attachment; filename="Befund Muller _ Zweitmeinung.pdf"; '
        "filename*=UTF-8''Befund%20M%C3%BCller%20%E2%80%93%20Zweitmeinung.pdf"
    ),
    "traversal-name": "attachment; filename=\"passwd.pdf\"; filename*=UTF-8''passwd.pdf",
}


@pytest.mark.parametrize("via", VIA)
@pytest.mark.parametrize(("name", "filename", "make"), ACCEPTED, ids=[a[0] for a in ACCEPTED])
def test_a_real_pdf_is_accepted_stored_encrypted_and_downloaded_intact_as_an_attachment(
    app: Flask,
    world: World,
    stored: RawStorage,
    via: str,
    name: str,
    filename: str,
    make: Callable[[], bytes],
) -> None:
    data = make()
    api, case_id = _new_case(world)
    status, text = VIA[via](world, case_id, filename, data)
    assert status in (201, 303), text
    with app.app_context():
        record = db.session.scalars(select(Record)).one()
        assert record.filename == STORED_NAME[name]
        assert record.page_count == 1 and record.size_bytes == len(data)
        assert record.storage_key and record.key_id
        record_id, storage_key = record.id, record.storage_key
        db.session.remove()
    # One file, under the random key, nowhere near the uploaded name.
    assert stored.keys() == [storage_key]
    assert data not in stored.read(storage_key)

    for download in (
        world.client("referrer").get(f"/records/{record_id}"),
        api.get(f"/records/{record_id}"),
    ):
        assert download.status_code == 200
        assert download.data == data
        assert download.headers["Content-Type"] == "application/pdf"
        assert download.headers["Content-Disposition"] == DISPOSITION[name]
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        assert download.headers["Cache-Control"] == "no-store"


def _database_dump() -> bytes:
    url = make_url(DATABASE_URL)
    dump = subprocess.run(
        [
            "pg_dump",
            "--data-only",
            "--host",
            url.host or "127.0.0.1",
            "--port",
            str(url.port or 5432),
            "--username",
            url.username or "postgres",
            url.database or "",
        ],
        capture_output=True,
        check=True,
        timeout=120,
        env={"PGPASSWORD": url.password or ""},
    )
    return dump.stdout


def test_raw_storage_holds_no_plaintext_of_a_canary_pdf(
    app: Flask, world: World, stored: RawStorage
) -> None:
    plain = f.pdf(CANARY)
    packed = compressed_pdf(CANARY)
    streams = [content_stream(plain), content_stream(packed)]
    assert CANARY.encode() in streams[0] and CANARY.encode() not in streams[1]
    api, case_id = _new_case(world)
    for data, filename in ((plain, "one.pdf"), (packed, "two.pdf")):
        assert api.upload(case_id, "pathology_report", data, filename).status_code == 201
    # Both come back whole: what is searched for below was really stored.
    with app.app_context():
        ids = db.session.scalars(select(Record.id).order_by(Record.id)).all()
        db.session.remove()
    assert [api.get(f"/records/{i}").data for i in ids] == [plain, packed]

    keys = stored.keys()
    everything = b"".join(stored.read(key) for key in keys)
    assert len(keys) == 2 and everything
    dump = _database_dump()
    assert b"COPY public.records" in dump  # the dump is real and holds the rows
    needles = {
        "canary text": CANARY.encode(),
        "uncompressed stream": streams[0],
        "compressed stream": streams[1],
        "pdf header": b"%PDF-1.",
    }
    for what, needle in needles.items():
        assert needle not in everything, f"{what} found in the record store ({stored.name})"
        for form in (needle, needle.hex().encode()):
            assert form not in dump, f"{what} found in the database"
