"""Where record files live: a small key -> bytes interface and its backends.

The store holds opaque bytes (board/records/crypto.py encrypts them before they get
here), under keys the board chooses (`new_key()`: random, never a file name a user
gave). `FilesystemStore` is the default; an S3-compatible store only has to offer the
same five methods. `LegacyDbStore` reads the bytes that earlier versions kept in the
`record_blobs` table, until `flask records migrate` has moved them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

# The only names a store ever writes: 32 hex characters (128 random bits).
_KEY = re.compile(r"^[0-9a-f]{32}$")
# A file being written; renamed to its key once complete (a crash leaves only this).
PARTIAL_SUFFIX = ".part"


class StoreError(Exception):
    """The store could not do what was asked (missing object, bad key, I/O failure)."""


class MissingObject(StoreError):
    pass


@dataclass(frozen=True)
class StoredObject:
    key: str
    modified_at: dt.datetime
    size: int


class RecordStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def list(self) -> Iterator[StoredObject]: ...


def new_key() -> str:
    return secrets.token_hex(16)


def _checked(key: str) -> str:
    if not _KEY.match(key.removesuffix(PARTIAL_SUFFIX)):
        raise StoreError("not a record store key")
    return key


class FilesystemStore:
    """Files under `root/<first two characters>/<key>`, written to a `.part` file,
    flushed to disk and renamed, so a reader never sees half a file. Directories are
    0700 and files 0600: only the board's own user reads them."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        _checked(key)
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        if key.endswith(PARTIAL_SUFFIX):
            raise StoreError("a partial file name is not a key")
        # Each level 0700 (mkdir's parents=True would give the missing parents 0755).
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.parent.mkdir(mode=0o700, exist_ok=True)
        partial = path.with_name(key + PARTIAL_SUFFIX)
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        # The rename itself is durable only once the directory is.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise MissingObject(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self) -> Iterator[StoredObject]:
        """Every object, and every `.part` file a crash left behind (an orphan)."""
        if not self.root.is_dir():
            return
        for shard in sorted(self.root.iterdir()):
            if not shard.is_dir():
                continue
            for path in sorted(shard.iterdir()):
                name = path.name
                if not _KEY.match(name.removesuffix(PARTIAL_SUFFIX)) or name[:2] != shard.name:
                    continue
                stat = path.stat()
                yield StoredObject(
                    key=name,
                    modified_at=dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC),
                    size=stat.st_size,
                )


class LegacyDbStore:
    """Read-only: the bytes earlier versions kept in `record_blobs`, keyed by the
    record id as text. Plaintext, as it always was; `flask records migrate` moves each
    into the encrypted store and deletes the blob."""

    def put(self, key: str, data: bytes) -> None:
        raise StoreError("the legacy database store is read-only")

    def get(self, key: str) -> bytes:
        from board.cases.models import RecordBlob
        from board.extensions import db

        blob = db.session.get(RecordBlob, int(key))
        if blob is None:
            raise MissingObject(key)
        return bytes(blob.data)

    def delete(self, key: str) -> None:
        from board.cases.models import RecordBlob
        from board.extensions import db

        blob = db.session.get(RecordBlob, int(key))
        if blob is not None:
            db.session.delete(blob)

    def exists(self, key: str) -> bool:
        from board.cases.models import RecordBlob
        from board.extensions import db

        return db.session.get(RecordBlob, int(key)) is not None

    def list(self) -> Iterator[StoredObject]:
        return iter(())
