"""The audit trail's hash chain: PURE (no flask, sqlalchemy or celery imports).

Each row carries the hash of the row before it (`prev_hash`) and its own hash
(`row_hash`): SHA-256 over a canonical serialisation of its fields and
`prev_hash`. Editing a row changes its hash; removing one leaves a gap in the ids
and a `prev_hash` that matches nothing; two rows that follow the same row are a
fork. `verify()` walks the rows in id order and names the first that breaks.

The canonical form is JSON with sorted keys, no spaces, UTF-8, times as
`YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, microseconds: what PostgreSQL and SQLite keep),
and `detail` limited to flat str/int/bool/None values, so the bytes are the same
whether the row was just built in Python or read back from either database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# The fields a row's hash covers, in the order the CSV export shows them.
FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "action",
    "case_id",
    "object_type",
    "object_id",
    "outcome",
    "source_ip",
    "request_id",
    "detail",
    "severity",
    "prev_hash",
)

DetailValue = str | int | bool | None


def check_detail(detail: Mapping[str, Any] | None) -> dict[str, DetailValue] | None:
    """A row's detail: a flat mapping of short values (no floats: their text form is
    not guaranteed to survive a JSONB round trip byte for byte)."""
    if detail is None:
        return None
    out: dict[str, DetailValue] = {}
    for key, value in detail.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str | int | bool)):
            raise ValueError(f"audit detail {key!r} must be a str, int, bool or None")
        out[key] = value
    return out


def _time(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("audit times are timezone-aware UTC")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(row: Mapping[str, Any]) -> bytes:
    """The bytes a row's hash is taken over: every field of FIELDS, nothing else."""
    body = {name: row[name] for name in FIELDS}
    body["at"] = _time(body["at"])
    body["detail"] = check_detail(body["detail"])
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_hash(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(row)).hexdigest()


@dataclass(frozen=True)
class Broken:
    """The first row where the chain breaks, and why, in words an operator can act on."""

    row_id: int
    reason: str


@dataclass(frozen=True)
class Verdict:
    rows: int
    head_id: int | None
    head_hash: str
    broken: Broken | None

    @property
    def intact(self) -> bool:
        return self.broken is None


# How many recent row hashes verify() remembers to name the other branch of a fork.
_RECENT = 10_000


def verify(rows: Iterable[Mapping[str, Any]]) -> Verdict:
    """Walks rows in id order (each a mapping with FIELDS and `row_hash`). Ids run
    1, 2, 3, ... because the chain assigns them; the first row follows GENESIS."""
    expected_id, previous_hash, count = 1, GENESIS, 0
    recent: dict[str, int] = {}
    for row in rows:
        row_id = int(row["id"])
        if row_id != expected_id:
            missing = (
                f"row {expected_id} is"
                if row_id == expected_id + 1
                else f"rows {expected_id} to {row_id - 1} are"
            )
            reason = f"{missing} missing: the ids jump from {expected_id - 1} to {row_id}"
            return Verdict(count, None, previous_hash, Broken(row_id, reason))
        if row["prev_hash"] != previous_hash:
            follows = recent.get(row["prev_hash"])
            if follows is not None:
                reason = (
                    f"the chain forks: it follows row {follows}, which row {follows + 1} "
                    "already follows"
                )
            else:
                reason = (
                    f"its prev_hash is not the hash of row {row_id - 1}: the row before it "
                    "was replaced or rewritten"
                )
            return Verdict(count, None, previous_hash, Broken(row_id, reason))
        if row_hash(row) != row["row_hash"]:
            reason = "its contents do not match its row_hash: the row was edited"
            return Verdict(count, None, previous_hash, Broken(row_id, reason))
        recent[row["row_hash"]] = row_id
        if len(recent) > _RECENT:
            del recent[next(iter(recent))]
        previous_hash, expected_id, count = row["row_hash"], row_id + 1, count + 1
    return Verdict(count, expected_id - 1 or None, previous_hash, None)
