"""Where record files live: a small key -> bytes interface and its backends.

The store holds opaque bytes (board/records/crypto.py encrypts them before they get
here), under keys the board chooses (`new_key()`: random, never a file name a user
gave). `FilesystemStore` is the default; `S3Store` keeps the same bytes in an
S3-compatible bucket (AWS S3, MinIO, Ceph, a cloud's object storage) for boards that run
on several machines (docs/scaling.md). `LegacyDbStore` reads the bytes that earlier
versions kept in the `record_blobs` table, until `flask records migrate` has moved them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

# The only names a store ever writes: 32 hex characters (128 random bits).
_KEY = re.compile(r"^[0-9a-f]{32}$")
# A file being written; renamed to its key once complete (a crash leaves only this).
PARTIAL_SUFFIX = ".part"


class StoreError(Exception):
    """The store could not do what was asked (missing object, bad key, I/O failure)."""


class MissingObject(StoreError):
    pass


class StoreUnavailable(StoreError):
    """The storage service did not answer or refused (network, credentials, outage): not
    a statement about the object, which may well be intact."""


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


class S3Store:
    """Objects `<prefix><key>` in one bucket of an S3-compatible service. A PUT is
    atomic (a reader sees the whole object or none), so there is no `.part` step; an
    upload whose commit failed leaves an object with no row, which `flask records
    verify` removes like a file. The bucket should be private with versioning on
    (docs/scaling.md); the bytes are sealed before they get here either way.

    Credentials: `access_key_id`/`secret_access_key` when given, otherwise boto3's own
    chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment, a profile,
    an instance or pod role). The client is made on first use in each process: a
    Celery pool child never shares the parent's connections."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        prefix: str = "",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ):
        if not bucket:
            raise StoreError("RECORDS_S3_BUCKET is required for the S3 record store")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region or None
        self.prefix = prefix
        self._credentials = {
            k: v
            for k, v in (
                ("aws_access_key_id", access_key_id),
                ("aws_secret_access_key", secret_access_key),
            )
            if v
        }
        self._client: Any = None
        self._pid = 0

    @property
    def client(self) -> Any:
        if self._client is None or self._pid != os.getpid():
            import boto3
            from botocore.config import Config

            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint_url,
                region_name=self.region,
                config=Config(
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                    # Path-style URLs: what MinIO and most self-hosted services expect.
                    s3={"addressing_style": "path"},
                ),
                **self._credentials,
            )
            self._pid = os.getpid()
        return self._client

    def _name(self, key: str) -> str:
        if key.endswith(PARTIAL_SUFFIX):
            raise StoreError("a partial file name is not a key")
        return self.prefix + _checked(key)

    def _call(self, method: str, key: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, method)(Bucket=self.bucket, Key=self._name(key), **kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise MissingObject(key) from None
            raise StoreUnavailable(f"S3 {method} failed: {code}") from None
        except BotoCoreError as exc:
            raise StoreUnavailable(f"S3 {method} failed: {exc.__class__.__name__}") from None

    def put(self, key: str, data: bytes) -> None:
        self._call("put_object", key, Body=data, ContentType="application/octet-stream")

    def get(self, key: str) -> bytes:
        body = self._call("get_object", key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def delete(self, key: str) -> None:
        self._call("delete_object", key)  # no error when it is already gone

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", key)
        except MissingObject:
            return False
        return True

    def list(self) -> Iterator[StoredObject]:
        """Every object under the prefix whose name is a store key (others are not ours)."""
        from botocore.exceptions import BotoCoreError, ClientError

        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix
        )
        try:
            for page in pages:
                for item in page.get("Contents", []):
                    key = str(item["Key"]).removeprefix(self.prefix)
                    if _KEY.match(key):
                        yield StoredObject(
                            key=key,
                            modified_at=item["LastModified"].astimezone(dt.UTC),
                            size=int(item["Size"]),
                        )
        except (BotoCoreError, ClientError) as exc:
            raise StoreUnavailable(f"S3 listing failed: {exc.__class__.__name__}") from None


def from_config(config: Any) -> RecordStore:
    """The store RECORDS_STORE names: `filesystem` (RECORDS_DIR) or `s3`."""
    kind = str(config.get("RECORDS_STORE") or "filesystem").lower()
    if kind == "filesystem":
        return FilesystemStore(Path(config["RECORDS_DIR"]))
    if kind == "s3":

        def text(name: str) -> str | None:
            # FLASK_* values that look like numbers arrive as numbers (board/config.py).
            value = config.get(name)
            return None if value is None or value == "" else str(value)

        return S3Store(
            text("RECORDS_S3_BUCKET") or "",
            endpoint_url=text("RECORDS_S3_ENDPOINT_URL"),
            region=text("RECORDS_S3_REGION"),
            prefix=text("RECORDS_S3_PREFIX") or "",
            access_key_id=text("RECORDS_S3_ACCESS_KEY_ID"),
            secret_access_key=text("RECORDS_S3_SECRET_ACCESS_KEY"),
        )
    raise StoreError(f"RECORDS_STORE must be filesystem or s3, not {kind!r}")


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
