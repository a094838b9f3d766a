"""The audit trail's hash chain: PURE (no flask, sqlalchemy or celery imports).

The chain is a numbered list of links (rows 1, 2, 3, ... with no gap), each naming one
audit event. Row n carries the hash of row n - 1 (`prev_hash`) and its own hash
(`row_hash`): SHA-256 over a canonical serialisation of its event's fields (the
event's own id among them) and `prev_hash`. Editing an event changes its hash;
removing an event leaves a row that names nothing; removing a row leaves a gap in the
numbers and a `prev_hash` that matches nothing; two rows that follow the same row are
a fork. `verify()` walks the rows in order and names the first that breaks.

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
class Link:
    """A new row of the chain: its number, its event and the two hashes."""

    seq: int
    event_id: int
    prev_hash: str
    row_hash: str


def extend(head_seq: int, head_hash: str, events: Iterable[Mapping[str, Any]]) -> list[Link]:
    """The rows that chain `events` (mappings with FIELDS but prev_hash), in the order
    given, after the row `head_seq` whose hash is `head_hash` (0 and GENESIS: none)."""
    links, seq, prev_hash = [], head_seq, head_hash
    for event in events:
        seq += 1
        digest = row_hash({**event, "prev_hash": prev_hash})
        links.append(Link(seq, int(event["id"]), prev_hash, digest))
        prev_hash = digest
    return links


@dataclass(frozen=True)
class Broken:
    """The first row where the chain breaks, and why, in words an operator can act on."""

    row: int
    reason: str


@dataclass(frozen=True)
class Verdict:
    rows: int
    head_row: int | None
    head_hash: str
    broken: Broken | None

    @property
    def intact(self) -> bool:
        return self.broken is None


# How many recent row hashes verify() remembers to name the other branch of a fork.
_RECENT = 10_000


def verify(rows: Iterable[Mapping[str, Any]]) -> Verdict:
    """Walks the chain's rows in order: mappings with `seq`, `event_id`, `prev_hash`,
    `row_hash` and the event's FIELDS but prev_hash (`id` None when the event row is
    gone). The first row follows GENESIS."""
    expected, previous_hash, count = 1, GENESIS, 0
    recent: dict[str, int] = {}
    for row in rows:
        seq = int(row["seq"])
        broken = None
        if seq != expected:
            missing = (
                f"row {expected} is" if seq == expected + 1 else f"rows {expected} to {seq - 1} are"
            )
            broken = f"{missing} missing: the chain jumps from row {expected - 1} to row {seq}"
        elif row["id"] is None:
            broken = f"its audit event {row['event_id']} was removed"
        elif row["prev_hash"] != previous_hash:
            follows = recent.get(row["prev_hash"])
            if follows is not None:
                broken = (
                    f"the chain forks: it follows row {follows}, which row {follows + 1} "
                    "already follows"
                )
            else:
                broken = (
                    f"its prev_hash is not the hash of row {seq - 1}: the row before it "
                    "was replaced or rewritten"
                )
        elif row_hash(row) != row["row_hash"]:
            broken = (
                f"its audit event {row['event_id']} does not match the row's hash: "
                "the event was edited"
            )
        if broken is not None:
            return Verdict(count, None, previous_hash, Broken(seq, broken))
        recent[row["row_hash"]] = seq
        if len(recent) > _RECENT:
            del recent[next(iter(recent))]
        previous_hash, expected, count = row["row_hash"], seq + 1, count + 1
    return Verdict(count, expected - 1 or None, previous_hash, None)
