"""A real S3-compatible server for the record-store tests, and raw access to what a
record store holds, the same for both backends.

The server is moto's (`moto_server`, from the dev extra): a separate process speaking
the S3 HTTP API on a free port; the board talks to it through boto3 exactly as it would
to AWS S3 or MinIO. `RawStorage` is the test's view *around* the board: it reads, damages,
removes and ages stored objects directly (the file system, or S3 calls of its own), so a
test can break what the board keeps and see the board notice."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

import boto3
import requests
from botocore.config import Config

from tests.support.processes import BIN, Proc, wait_until
from tests.support.services import RECORDS_DIR, free_port

BUCKET = "board-test-records"
PREFIX = "records/"
# moto accepts any credentials; the store must still send some (signature v4).
CREDENTIALS = {"aws_access_key_id": "test-key-id", "aws_secret_access_key": "test-secret"}
REGION = "eu-central-1"


class S3Server:
    """`moto_server` on a free port, with one bucket."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_dir = Path(tempfile.mkdtemp(prefix="board-s3-"))
        self.proc: Proc | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        self.proc = Proc(
            f"moto-{self.port}",
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            env,
            self.log_dir,
        )
        wait_until(self._answers, timeout=60, what=f"moto_server on port {self.port}")
        self.client().create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )

    def _answers(self) -> bool:
        assert self.proc is not None
        if self.proc.process.poll() is not None:
            raise AssertionError(f"moto_server exited:\n{self.proc.output()}")
        try:
            return requests.get(self.url, timeout=1).status_code < 500
        except requests.ConnectionError:
            return False

    def client(self) -> Any:
        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            config=Config(s3={"addressing_style": "path"}),
            **CREDENTIALS,
        )

    def config(self) -> dict[str, str]:
        """The board's configuration for this server (FLASK_ + these in a process's env)."""
        return {
            "RECORDS_STORE": "s3",
            "RECORDS_S3_ENDPOINT_URL": self.url,
            "RECORDS_S3_BUCKET": BUCKET,
            "RECORDS_S3_REGION": REGION,
            "RECORDS_S3_PREFIX": PREFIX,
            "RECORDS_S3_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "RECORDS_S3_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
        }

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        shutil.rmtree(self.log_dir, ignore_errors=True)


class RawStorage(Protocol):
    name: str

    def keys(self) -> list[str]:
        """Every stored object's key (a crash's `.part` file too, on the file system)."""
        ...

    def read(self, key: str) -> bytes: ...
    def write(self, key: str, data: bytes) -> None: ...
    def remove(self, key: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def age(self, key: str, seconds: float) -> None:
        """Makes the object look `seconds` older than it is (for the orphan sweep)."""
        ...

    def clear(self) -> None: ...


class FilesystemRaw:
    name = "filesystem"

    def path(self, key: str) -> Path:
        return RECORDS_DIR / key[:2] / key

    def keys(self) -> list[str]:
        return sorted(p.name for p in RECORDS_DIR.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        self.path(key).write_bytes(data)

    def remove(self, key: str) -> None:
        self.path(key).unlink()

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def age(self, key: str, seconds: float) -> None:
        then = time.time() - seconds
        os.utime(self.path(key), (then, then))

    def clear(self) -> None:
        shutil.rmtree(RECORDS_DIR, ignore_errors=True)


class S3Raw:
    """The bucket as seen with S3 calls of the test's own. S3 cannot backdate an
    object's LastModified, so `age` moves the clock the sweep compares with instead:
    it shortens the app's orphan grace period (put back by the fixture)."""

    name = "s3"

    def __init__(self, server: S3Server, app_config: dict[str, Any]):
        self.s3 = server.client()
        self.app_config = app_config

    def keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX)
        return sorted(item["Key"].removeprefix(PREFIX) for item in listing.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.s3.get_object(Bucket=BUCKET, Key=PREFIX + key)["Body"].read())

    def write(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=PREFIX + key, Body=data)

    def remove(self, key: str) -> None:
        self.s3.delete_object(Bucket=BUCKET, Key=PREFIX + key)

    def exists(self, key: str) -> bool:
        return key in self.keys()

    def age(self, key: str, seconds: float) -> None:
        assert self.exists(key)
        grace = int(self.app_config["RECORDS_ORPHAN_GRACE_SECONDS"])
        # The object is now `seconds` older than the grace period allows, as on disk.
        self.app_config["RECORDS_ORPHAN_GRACE_SECONDS"] = max(0, grace - int(seconds))

    def clear(self) -> None:
        for key in self.keys():
            self.remove(key)
