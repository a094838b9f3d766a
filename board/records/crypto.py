"""Records are encrypted at rest with AES-256-GCM (authenticated encryption).

Each file is `MAGIC || 12-byte random nonce || ciphertext || 16-byte tag`. The
associated data binds a file to its record row (record id and storage key), so a file
copied over another record's fails to open. Keys come from configuration
(`RECORDS_KEY`, or the file `RECORDS_KEY_FILE`), never from the records folder; each
row stores the id of the key that sealed it, so a new key can be introduced while the
old one (in `RECORDS_RETIRED_KEYS`) still opens older files, and `flask records
migrate` re-seals them under the new one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"BRC1"
NONCE_BYTES = 12  # 96 bits, GCM's native nonce size: random per file


class KeyConfigError(Exception):
    """The records key is missing or malformed: a configuration error, said in words."""


class Undecryptable(Exception):
    """The file is not what this key sealed for this record (tampered, swapped, or
    sealed by a key the board no longer has)."""


def key_id(key: bytes) -> str:
    """A public fingerprint of a key: stored with each row, safe to log."""
    return "k" + hashlib.sha256(b"board-records-key-id:" + key).hexdigest()[:15]


def decode_key(text: str, *, source: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise KeyConfigError(f"{source} is not base64") from None
    if len(key) != 32:
        raise KeyConfigError(
            f"{source} must be 32 bytes (base64 of 32 random bytes), not {len(key)}"
        )
    return key


def new_key_text() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@dataclass(frozen=True)
class Keyring:
    current: bytes
    retired: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def current_id(self) -> str:
        return key_id(self.current)

    def key(self, kid: str) -> bytes:
        if kid == self.current_id:
            return self.current
        try:
            return self.retired[kid]
        except KeyError:
            raise Undecryptable(f"sealed by key {kid}, which is not configured") from None

    @classmethod
    def build(cls, current: bytes, retired: Iterable[bytes] = ()) -> Keyring:
        return cls(current, {key_id(k): k for k in retired})


def load_keyring(
    key_text: str | None, key_file: str | os.PathLike[str] | None, retired_text: str | None
) -> Keyring:
    """The keyring from configuration: `key_text` (FLASK_RECORDS_KEY) wins over
    `key_file` (FLASK_RECORDS_KEY_FILE); `retired_text` is a comma-separated list."""
    if key_text:
        current = decode_key(key_text, source="RECORDS_KEY")
    elif key_file and Path(key_file).is_file():
        current = decode_key(Path(key_file).read_text(), source=f"the key file {key_file}")
    else:
        raise KeyConfigError(
            "Records cannot be stored or read: no encryption key is configured. Set "
            "FLASK_RECORDS_KEY to base64 of 32 random bytes (from your secret store), "
            f"or put one in {key_file} (`make run` creates it for the demo)."
        )
    retired = [
        decode_key(part, source="RECORDS_RETIRED_KEYS")
        for part in (retired_text or "").split(",")
        if part.strip()
    ]
    return Keyring.build(current, retired)


def associated_data(record_id: int, storage_key: str) -> bytes:
    return f"board-record:{record_id}:{storage_key}".encode()


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def open_sealed(key: bytes, sealed: bytes, aad: bytes) -> bytes:
    if not sealed.startswith(MAGIC) or len(sealed) < len(MAGIC) + NONCE_BYTES + 16:
        raise Undecryptable("not a sealed record file")
    nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
    try:
        return AESGCM(key).decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], aad)
    except InvalidTag:
        raise Undecryptable("the file fails authentication") from None
