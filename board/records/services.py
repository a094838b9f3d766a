"""Record bytes: checked on the way in, stored encrypted, verified on every way out.

`attach_record()` is how any feature adds a record to a case (the referrer's upload in
board.cases.services.add_record, an import): it refuses what is not a real PDF, writes
the encrypted file, and adds the row to the session. The file is written *before* the
caller commits: a failed commit leaves a file with no row (an orphan, which `flask
records verify` removes after RECORDS_ORPHAN_GRACE_SECONDS), never a row pointing at a
missing file.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, current_app
from sqlalchemy import select

from board.auth.models import User
from board.cases.models import Case, Record, RecordBlob
from board.cases.rules import RecordKind
from board.db import utcnow
from board.errors import RecordUnavailable, TooLarge
from board.extensions import db
from board.records import checks, crypto
from board.records.store import (
    LegacyDbStore,
    RecordStore,
    StoreError,
    StoreUnavailable,
    from_config,
    new_key,
)
from board.validation import FieldError, InvalidInput

EXTENSION = "board.records"


@dataclass
class Records:
    """The app's record store and its keyring (read from configuration on first use)."""

    store: RecordStore
    key_text: str | None
    key_file: str | None
    retired_text: str | None
    legacy: LegacyDbStore = field(default_factory=LegacyDbStore)
    _keyring: crypto.Keyring | None = None

    @property
    def keyring(self) -> crypto.Keyring:
        if self._keyring is None:
            self._keyring = crypto.load_keyring(self.key_text, self.key_file, self.retired_text)
        return self._keyring


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def init_app(app: Flask) -> None:
    records_dir = Path(app.config["RECORDS_DIR"])
    key_file = app.config.get("RECORDS_KEY_FILE")
    # The key is never kept beside the data, and the data never where it is served.
    if key_file and _inside(Path(key_file), records_dir):
        raise crypto.KeyConfigError("RECORDS_KEY_FILE must not be inside RECORDS_DIR")
    if app.static_folder and _inside(records_dir, Path(app.static_folder)):
        raise crypto.KeyConfigError("RECORDS_DIR must not be inside a served folder")
    app.extensions[EXTENSION] = Records(
        store=from_config(app.config),
        key_text=app.config.get("RECORDS_KEY"),
        key_file=key_file,
        retired_text=app.config.get("RECORDS_RETIRED_KEYS"),
    )


def records() -> Records:
    ext: Records = current_app.extensions[EXTENSION]
    return ext


def _seal_and_put(record: Record, data: bytes) -> None:
    """Encrypts `data` for `record` (which has its id) under a new storage key."""
    ext = records()
    ring = ext.keyring
    record.storage_key = new_key()
    record.key_id = ring.current_id
    sealed = crypto.seal(ring.current, data, crypto.associated_data(record.id, record.storage_key))
    ext.store.put(record.storage_key, sealed)


def attach_record(
    case: Case, *, uploaded_by: User, kind: str, filename: str | None, data: bytes
) -> Record:
    """Checks the upload, writes its encrypted file, adds the Record row to the session
    and flushes it. The caller audits and commits (or rolls back: the file is then an
    orphan that the sweep removes). Raises InvalidInput (422, one message per field)
    or TooLarge (413)."""
    limit = int(current_app.config["MAX_CONTENT_LENGTH"])
    if len(data) > limit:
        raise TooLarge(limit)
    errors: list[FieldError] = []
    try:
        record_kind = RecordKind(kind)
    except ValueError:
        allowed = ", ".join(k.value for k in RecordKind)
        errors.append(FieldError("kind", f"must be one of {allowed}"))
    verdict = checks.check_pdf_upload(filename, data)
    if isinstance(verdict, list):
        errors += [FieldError(r.field, r.message) for r in verdict]
    if errors or isinstance(verdict, list):
        raise InvalidInput(errors)
    record = Record(
        case_id=case.id,
        kind=record_kind.value,
        filename=verdict.filename,
        content_type=verdict.content_type,
        size_bytes=len(data),
        page_count=verdict.pages,
        sha256=hashlib.sha256(data).hexdigest(),
        uploaded_by_id=uploaded_by.id,
    )
    db.session.add(record)
    db.session.flush()  # the id is part of the file's associated data
    _seal_and_put(record, data)
    db.session.flush()
    return record


def read_bytes(record: Record) -> bytes:
    """The record's plaintext, only if it matches the SHA-256 recorded at upload."""
    ext = records()
    try:
        if record.storage_key is None:
            data = ext.legacy.get(str(record.id))
        else:
            if record.key_id is None:
                raise crypto.Undecryptable("no key id")
            sealed = ext.store.get(record.storage_key)
            data = crypto.open_sealed(
                ext.keyring.key(record.key_id),
                sealed,
                crypto.associated_data(record.id, record.storage_key),
            )
    except StoreUnavailable:
        raise  # the service is down: a 500, not a verdict on the record's file
    except StoreError:
        raise RecordUnavailable(record.id, "missing") from None
    except crypto.Undecryptable:
        raise RecordUnavailable(record.id, "corrupt") from None
    if hashlib.sha256(data).hexdigest() != record.sha256:
        raise RecordUnavailable(record.id, "corrupt")
    return data


def discard_file(storage_key: str | None) -> None:
    """After the commit that removed a record's row: its file goes too. A failure
    here leaves an orphan for the sweep, never a row without its file."""
    if storage_key is None:
        return
    try:
        records().store.delete(storage_key)
    except (OSError, StoreError):
        current_app.logger.warning("record file not removed; the sweep will remove it")


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[int] = field(default_factory=list)
    corrupt: list[int] = field(default_factory=list)
    orphans_removed: list[str] = field(default_factory=list)
    orphans_kept: list[str] = field(default_factory=list)
    orphans_recent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.orphans_kept)


def verify(*, remove_orphans: bool = True, now: dt.datetime | None = None) -> VerifyReport:
    """Reads every record (decrypts it and checks its SHA-256) and every stored file:
    records whose file is missing or corrupt, and files no record points at. Orphans
    older than the grace period are removed unless `remove_orphans` is false."""
    now = now or utcnow()
    report = VerifyReport()
    ext = records()
    last_id = 0
    known: set[str] = set()
    while True:
        batch = db.session.scalars(
            select(Record).where(Record.id > last_id).order_by(Record.id).limit(200)
        ).all()
        if not batch:
            break
        for record in batch:
            report.checked += 1
            if record.storage_key:
                known.add(record.storage_key)
            try:
                read_bytes(record)
            except RecordUnavailable as exc:
                (report.missing if exc.problem == "missing" else report.corrupt).append(record.id)
        last_id = batch[-1].id
        db.session.expire_all()  # keep memory flat over many records
    grace = dt.timedelta(seconds=int(current_app.config["RECORDS_ORPHAN_GRACE_SECONDS"]))
    for obj in list(ext.store.list()):
        if obj.key in known:
            continue
        if now - obj.modified_at < grace:
            report.orphans_recent.append(obj.key)
        elif remove_orphans:
            # Checked again: an upload that committed since the listing is no orphan.
            if db.session.scalar(select(Record.id).where(Record.storage_key == obj.key)) is None:
                ext.store.delete(obj.key)
                report.orphans_removed.append(obj.key)
        else:
            report.orphans_kept.append(obj.key)
    db.session.rollback()
    return report


@dataclass
class MigrateReport:
    moved: list[int] = field(default_factory=list)
    resealed: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def migrate() -> MigrateReport:
    """Moves every record into the encrypted store under the current key: legacy rows
    (bytes in `record_blobs`) and rows sealed by a retired key. One record per commit;
    the new file is written before its commit and the old copy removed after it, so an
    interruption loses nothing and the command can simply run again."""
    report = MigrateReport()
    current = records().keyring.current_id
    ids = db.session.scalars(
        select(Record.id)
        .where((Record.storage_key.is_(None)) | (Record.key_id != current))
        .order_by(Record.id)
    ).all()
    for record_id in ids:
        record = db.session.get(Record, record_id, with_for_update=True)
        if record is None:
            continue
        try:
            data = read_bytes(record)
        except RecordUnavailable:
            report.failed.append(record_id)
            db.session.rollback()
            continue
        legacy = record.storage_key is None
        old_key = record.storage_key
        _seal_and_put(record, data)
        if legacy:
            blob = db.session.get(RecordBlob, record.id)
            if blob is not None:
                db.session.delete(blob)
        db.session.commit()
        if legacy:
            report.moved.append(record_id)
        else:
            discard_file(old_key)
            report.resealed.append(record_id)
    return report
