"""The record store: encryption at rest, the SHA-256 check on every download, the
sweep (`flask records verify`), the move of legacy database blobs and key rotation
(`flask records migrate`), and where the key may live. The tests that touch stored bytes
run on both backends (the `stored` fixture): the file system and an S3 bucket on a real
S3-compatible server (moto_server, a separate process)."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import func, select

from board.audit.models import AuditEvent
from board.auth.models import User
from board.auth.roles import Role
from board.cases import services as cases
from board.cases.models import Record, RecordBlob
from board.cases.schemas import CaseInput
from board.extensions import db
from board.notifications.models import Notification
from board.records import crypto
from board.records import services as store
from board.validation import parse
from tests.support import factories as f
from tests.support.api import Api
from tests.support.s3 import RawStorage, S3Raw
from tests.support.services import RECORDS_DIR


@dataclasses.dataclass
class Setup:
    """Ids and emails only: usable after the test's session has been cleared."""

    referrer_id: int
    referrer_email: str
    coordinator_id: int
    case_id: int

    @property
    def referrer(self) -> User:
        return db.session.get_one(User, self.referrer_id)


@pytest.fixture
def setup(app: Flask, ctx: None) -> Setup:
    home = f.institution("Home Oncology")
    referrer = f.user(Role.REFERRER, home)
    coordinator = f.user(Role.COORDINATOR, f.institution("Board"))
    case = cases.create_draft(referrer, parse(CaseInput, f.case_body()))
    return Setup(referrer.id, referrer.email, coordinator.id, case.id)


def _upload(s: Setup, text: str = "Pathology report") -> Record:
    return cases.add_record(
        s.referrer, s.case_id, kind="pathology_report", filename="p.pdf", data=f.pdf(text)
    )


def _key(record: Record) -> str:
    assert record.storage_key
    return record.storage_key


def _verify(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["records", "verify", *args])
    return result.exit_code, result.output


def test_a_record_file_is_sealed_with_aes_gcm_and_bound_to_its_row(
    app: Flask, setup: Setup, stored: RawStorage
):
    record = _upload(setup)
    sealed = stored.read(_key(record))
    assert stored.keys() == [_key(record)]
    assert sealed.startswith(crypto.MAGIC)
    assert len(sealed) == len(f.pdf()) + len(crypto.MAGIC) + crypto.NONCE_BYTES + 16
    if stored.name == "filesystem":
        path = RECORDS_DIR / _key(record)[:2] / _key(record)
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        for folder in (RECORDS_DIR, path.parent):
            assert oct(folder.stat().st_mode & 0o777) == "0o700"
    key = crypto.decode_key(app.config["RECORDS_KEY"], source="test")
    aad = crypto.associated_data(record.id, record.storage_key or "")
    assert crypto.open_sealed(key, sealed, aad) == f.pdf()
    # Another record's id or key as associated data does not open it.
    with pytest.raises(crypto.Undecryptable):
        crypto.open_sealed(key, sealed, crypto.associated_data(record.id + 1, "0" * 32))
    # Two uploads of the same bytes: two nonces, two different files.
    again = _upload(setup)
    assert stored.read(_key(again)) != sealed


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        ("flip_a_byte", "corrupt"),
        ("swap_with_another_record", "corrupt"),
        ("delete", "missing"),
    ],
)
def test_a_damaged_record_is_refused_on_download_audited_told_and_found_by_verify(
    app: Flask, client, setup: Setup, stored: RawStorage, damage: str, problem: str
):
    record = _upload(setup, "First")
    other = _upload(setup, "Second")
    key = _key(record)
    if damage == "flip_a_byte":
        data = bytearray(stored.read(key))
        data[len(data) // 2] ^= 0x01
        stored.write(key, bytes(data))
    elif damage == "swap_with_another_record":
        stored.write(key, stored.read(_key(other)))
    else:
        stored.remove(key)
    record_id, other_id = record.id, other.id
    db.session.remove()

    response = Api(client, setup.referrer_email).get(f"/records/{record_id}")
    assert response.status_code == 500
    assert response.get_json()["error"] == (
        f"Record #{record_id} failed its integrity check (its stored file is {problem}); "
        "it was not sent. The coordinators have been told."
    )
    rows = db.session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "record_download", AuditEvent.object_id == record_id
        )
    ).all()
    assert [(r.outcome, r.object_type) for r in rows] == [("failed", "record")]
    told = db.session.scalars(
        select(Notification).where(Notification.kind == "record_integrity")
    ).all()
    assert [n.user_id for n in told] == [setup.coordinator_id]
    assert f"Record #{record_id}" in told[0].message

    code, output = _verify(app)
    assert code == 1
    assert f"{problem} " in output and f"  record {record_id}\n" in output
    assert "PROBLEMS FOUND" in output
    # The undamaged record still downloads.
    assert Api(client, setup.referrer_email).get(f"/records/{other_id}").status_code == 200


def test_verify_passes_on_intact_records_and_removes_only_old_orphans(
    app: Flask, setup: Setup, stored: RawStorage
):
    kept = _key(_upload(setup))
    # An upload whose commit failed: the file was written, the row rolled back.
    case = db.session.get(cases.Case, setup.case_id)
    orphan = store.attach_record(
        case, uploaded_by=setup.referrer, kind="pathology_report", filename="x.pdf", data=f.pdf()
    )
    orphan_key = _key(orphan)
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(Record)) == 1
    assert stored.exists(orphan_key)

    code, output = _verify(app)
    assert code == 0, output
    assert "records checked: 1" in output
    assert f"recent files without a record (left alone): 1\n  {orphan_key}\n" in output
    assert stored.exists(orphan_key)

    stored.age(orphan_key, 2 * 3600)
    code, output = _verify(app, "--keep-orphans")
    assert code == 1 and f"orphan files kept: 1\n  {orphan_key}\n" in output
    assert stored.exists(orphan_key)
    code, output = _verify(app)
    assert code == 0 and f"orphan files removed: 1\n  {orphan_key}\n" in output
    assert stored.keys() == [kept]


def test_a_removed_record_takes_its_file_with_it(app: Flask, setup: Setup, stored: RawStorage):
    record = _upload(setup)
    key = _key(record)
    assert stored.exists(key)
    cases.remove_record(setup.referrer, setup.case_id, record.id)
    assert not stored.exists(key)
    assert _verify(app)[0] == 0


def _make_legacy(record: Record, data: bytes, stored: RawStorage) -> None:
    """The row as an earlier version left it: bytes in record_blobs, no storage key."""
    stored.remove(_key(record))
    record.storage_key = None
    record.key_id = None
    db.session.add(RecordBlob(record_id=record.id, data=data))
    db.session.commit()


def test_legacy_database_blobs_are_read_and_moved_into_the_store_by_migrate(
    app: Flask, client, setup: Setup, stored: RawStorage
):
    record = _upload(setup, "Legacy")
    record_id = record.id
    _make_legacy(record, f.pdf("Legacy"), stored)
    api = Api(client, setup.referrer_email)
    assert api.get(f"/records/{record_id}").data == f.pdf("Legacy")
    assert _verify(app)[0] == 0

    result = app.test_cli_runner().invoke(args=["records", "migrate"])
    assert result.exit_code == 0, result.output
    assert "moved from the database: 1" in result.output
    db.session.expire_all()
    moved = db.session.get(Record, record_id)
    assert moved is not None and moved.storage_key and stored.keys() == [moved.storage_key]
    assert db.session.scalar(select(func.count()).select_from(RecordBlob)) == 0
    assert api.get(f"/records/{record_id}").data == f.pdf("Legacy")
    again = app.test_cli_runner().invoke(args=["records", "migrate"])
    assert "moved from the database: 0; re-sealed under the current key: 0" in again.output


@pytest.fixture
def keys(app: Flask) -> Iterator[object]:
    """Lets a test change the app's records keys; puts the suite's back afterwards."""
    before = app.extensions[store.EXTENSION]

    def use(current: str, retired: str = "") -> None:
        app.extensions[store.EXTENSION] = dataclasses.replace(
            before, key_text=current, retired_text=retired, _keyring=None
        )

    yield use
    app.extensions[store.EXTENSION] = before


def test_a_retired_key_still_opens_its_files_and_migrate_reseals_them(
    app: Flask, client, setup: Setup, stored: RawStorage, keys
):
    old = app.config["RECORDS_KEY"]
    record = _upload(setup, "Before rotation")
    old_id, old_key, record_id = record.key_id, _key(record), record.id
    db.session.remove()

    new = crypto.new_key_text()
    keys(new)  # the old key forgotten: its files cannot be read
    api = Api(client, setup.referrer_email)
    assert api.get(f"/records/{record_id}").status_code == 500
    keys(new, retired=old)
    assert api.get(f"/records/{record_id}").data == f.pdf("Before rotation")
    result = app.test_cli_runner().invoke(args=["records", "migrate"])
    assert result.exit_code == 0 and "re-sealed under the current key: 1" in result.output
    resealed = db.session.get(Record, record_id)
    assert resealed is not None
    assert resealed.key_id == crypto.key_id(crypto.decode_key(new, source="test")) != old_id
    assert stored.keys() == [_key(resealed)] and _key(resealed) != old_key
    keys(new)  # the retired key can now be dropped from the configuration
    assert api.get(f"/records/{record_id}").data == f.pdf("Before rotation")


def test_without_a_key_records_are_refused_with_a_message_that_says_what_to_set(tmp_path):
    with pytest.raises(crypto.KeyConfigError, match="FLASK_RECORDS_KEY"):
        crypto.load_keyring(None, tmp_path / "secrets" / "records.key", "")
    with pytest.raises(crypto.KeyConfigError, match="32 bytes"):
        crypto.load_keyring("c2hvcnQ=", None, "")


def test_the_key_file_may_not_live_in_the_records_folder(tmp_path):
    bare = Flask("keycheck", static_folder=str(tmp_path / "static"))
    bare.config.update(
        RECORDS_DIR=str(tmp_path / "records"),
        RECORDS_KEY_FILE=str(tmp_path / "records" / "key"),
    )
    with pytest.raises(crypto.KeyConfigError, match="must not be inside RECORDS_DIR"):
        store.init_app(bare)
    bare.config.update(
        RECORDS_DIR=str(tmp_path / "static" / "records"),
        RECORDS_KEY_FILE=str(tmp_path / "secrets" / "key"),
    )
    with pytest.raises(crypto.KeyConfigError, match="served folder"):
        store.init_app(bare)


def test_an_upload_is_parsed_in_memory_so_its_plaintext_never_touches_the_disk(app: Flask):
    # werkzeug spools a file part above 500 KB to a temporary file by default.
    big = f.pdf() + b"%" + b"0" * (2 << 20)
    with app.test_request_context(
        "/api/v1/cases/1/records",
        method="POST",
        data={"file": (io.BytesIO(big), "scan.pdf")},
        content_type="multipart/form-data",
    ):
        from flask import request

        upload = request.files["file"]
        assert isinstance(upload.stream, io.BytesIO)
        assert upload.read() == big


def test_make_run_creates_the_demo_key_once_in_its_own_secrets_folder(tmp_path, monkeypatch):
    from board.launch import _demo_records_key

    key_file = tmp_path / "instance" / "secrets" / "records.key"
    monkeypatch.setenv("FLASK_RECORDS_KEY_FILE", str(key_file))
    _demo_records_key()
    first = key_file.read_text()
    assert len(crypto.decode_key(first, source="demo")) == 32
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(key_file.parent.stat().st_mode & 0o777) == "0o700"
    _demo_records_key()
    assert key_file.read_text() == first  # never replaced: the records need it
    keyring = crypto.load_keyring(None, key_file, "")
    assert keyring.current_id == crypto.key_id(crypto.decode_key(first, source="demo"))


def test_the_store_is_chosen_by_configuration(tmp_path, s3_server):
    from board.records.store import FilesystemStore, S3Store, StoreError, from_config

    assert isinstance(from_config({"RECORDS_DIR": str(tmp_path)}), FilesystemStore)
    chosen = from_config({"RECORDS_DIR": str(tmp_path), **s3_server.config()})
    assert isinstance(chosen, S3Store)
    assert (chosen.bucket, chosen.endpoint_url, chosen.prefix) == (
        "board-test-records",
        s3_server.url,
        "records/",
    )
    with pytest.raises(StoreError, match="RECORDS_S3_BUCKET"):
        from_config({"RECORDS_STORE": "s3"})
    with pytest.raises(StoreError, match="filesystem or s3"):
        from_config({"RECORDS_STORE": "tape", "RECORDS_DIR": str(tmp_path)})


def test_an_unreachable_s3_service_is_an_outage_not_a_damaged_record(
    app: Flask, client, setup: Setup, s3_server
):
    """A read while the service is down raises StoreUnavailable (a 500) without telling
    the coordinators that the record is damaged, and `verify` stops instead of reporting
    it missing. The record is intact once the service is back."""
    from board.records.store import StoreUnavailable, from_config
    from tests.support.services import free_port

    before = app.extensions[store.EXTENSION]
    up = from_config({**app.config, **s3_server.config()})
    app.extensions[store.EXTENSION] = dataclasses.replace(before, store=up)
    record_id = _upload(setup).id
    db.session.commit()
    nothing_there = {
        **s3_server.config(),
        "RECORDS_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
    }
    down = from_config({**app.config, **nothing_there})
    app.extensions[store.EXTENSION] = dataclasses.replace(before, store=down)
    try:
        with pytest.raises(StoreUnavailable):
            store.read_bytes(db.session.get_one(Record, record_id))
        assert app.test_cli_runner().invoke(args=["records", "verify"]).exit_code != 0
        app.extensions[store.EXTENSION] = dataclasses.replace(before, store=up)
        told = select(func.count()).where(Notification.kind == "record_integrity")
        assert db.session.scalar(told) == 0
        assert Api(client, setup.referrer_email).get(f"/records/{record_id}").status_code == 200
    finally:
        S3Raw(s3_server, app.config).clear()
        app.extensions[store.EXTENSION] = before
