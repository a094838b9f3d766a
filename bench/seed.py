"""Seeds a migrated board with N cases in realistic proportions, fast (COPY).

    .venv/bin/python bench/seed.py --cases 100000 [--database-url URL] [--seed 1]
                                   [--records-dir DIR --records-key BASE64] [--fresh]

As a module: `seed(database_url, cases, *, seed=1) -> dict` (the counts, the ids the
benchmarks need and how to sign in as those accounts; see `seed()`).

The database must be migrated (`flask db upgrade`) and hold no cases; the CLI creates
the database, migrates it and (with --fresh, or when it is the default bench database)
empties it first. Without --database-url it uses board_bench_seed on BENCH_POSTGRES
(default postgres@127.0.0.1:5432) and, as part of `make bench`, seeds 100,000 cases and
exits 1 when that took 5 minutes or more.

How: every row is generated in Python from one random.Random(seed) (the same seed
gives the same board, except the API tokens and session cookies, which are random) and
written with PostgreSQL COPY in chunks of cases, in one transaction; ids are assigned
here (so children can point at parents without a round trip) and the sequences are
moved past them at the end. The audit rows are hash-chained in the same pass with
board/audit/chain.py (one row of audit_chain per event, in event order, each with the
previous row's hash), as the chainer would have linked them, so `flask audit verify`
passes on the seeded database. The verdict summaries
are then counted by board/concordance/summaries.py `rebuild()` (the seed goes around
the review signing service that keeps them), the case status counts folded
(board/cases/status_counts.py `roll_up()`), and the database is ANALYZEd.

Records: every record row has a storage key and a key id, as an upload through the
record store writes. The store binds each file to its row (associated data: record id
and storage key), so files cannot be shared between rows. With --records-dir and
--records-key (or `records_dir`/`records_key`), the seeder writes one real sealed file
per row in a fast loop with board/records/crypto.py `seal()` (no fsync: a benchmark's
files, not a patient's), under the same layout FilesystemStore reads; a download or
`flask records verify` then works for every row. Without them no file is written (the
rows' keys then name no file: the pages and API reads the benchmarks drive only list
records, they do not download them).

Proportions (per case, on average; `PROPORTIONS` below):
- statuses over the lifecycle: 54% acknowledged, 29% reported, 1% draft, 1% submitted,
  5% in review, 2% awaiting records, 3% ready for board, 2% consensus, 1% unroutable,
  2% withdrawn; timepoints 35% post-biopsy, 30% pre-surgery, 25% post-surgery, 10%
  during treatment; 5% urgent, 1% restricted;
- ~2.2 assignments (the specialties each timepoint needs, a second pathologist on one
  case in ten with pathology, a declined offer on 3%), ~2.1 signed reviews with 3
  verdicts each (~80/75/58% concur on diagnosis/stage/plan);
- ~1.9 records (the required ones of the timepoint, an extra imaging report on 20%),
  ~6 case events (the status timeline), one consensus on each case past consensus
  (a corrected second version on 1%), releases (reported_at) on 83%, acknowledgements
  on 54%, implementation on half of those; follow-up questions on 5% of released cases;
  record requests on awaiting-records cases and 3% of released ones; ~3.3 notifications;
  ~20 audit rows; one agenda item for 30% of cases past review (weekly meetings over
  the three years, 5 attendees each); one web session per 4 users and API tokens.
- people: 40 institutions, 400 referrers, 140 reviewers, 3 coordinators, 1 admin at
  100,000 cases (scaled down with N, never under a handful).

The accounts named in the result (coordinator, reviewer, referrer, admin) sign in like
any account of tests/support/factories.py: password factories.PASSWORD and the TOTP
secret factories.TOTP_SECRET (mfa_exempt is false), so tests/support/api.py `sign_in`,
`Api` and `HttpApi` work, with factories.otp(email, database_url). Each also has an API
token (`token`: send `Authorization: Bearer <token>`, valid 30 days) and a web session
(`cookie`: send it as the `board_session` cookie; it ends after SESSION_IDLE_MINUTES
without a request, 15 by default, and SESSION_ABSOLUTE_HOURS after the seed).
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import random
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from board.audit import chain  # noqa: E402
from board.records import crypto  # noqa: E402

DATABASE = "board_bench_seed"
BUDGET_SECONDS = 300.0
CHUNK = 5_000  # cases generated and copied at a time (bounds the memory)

UTC = dt.UTC
SPECIALTY_ROLE = {
    "pathology": "pathologist",
    "breast_surgery": "breast_surgeon",
    "medical_oncology": "medical_oncologist",
    "radiation_oncology": "radiation_oncologist",
    "breast_radiology": "breast_radiologist",
    "plastic_surgery": "plastic_surgeon",
}
# Reviewers of each specialty at 100,000 cases (as bench/analytics.py).
REVIEWERS_AT_100K = {
    "pathology": 40,
    "breast_surgery": 20,
    "medical_oncology": 30,
    "radiation_oncology": 20,
    "breast_radiology": 20,
    "plastic_surgery": 10,
}
# (status, cumulative probability): the lifecycle spread.
STATUSES = (
    ("draft", 0.01),
    ("submitted", 0.02),
    ("in_review", 0.07),
    ("awaiting_records", 0.09),
    ("unroutable", 0.10),
    ("ready_for_board", 0.13),
    ("consensus", 0.15),
    ("withdrawn", 0.17),
    ("reported", 0.46),
    ("acknowledged", 1.00),
)
TIMEPOINTS = (
    ("post_biopsy", 0.35),
    ("pre_surgery", 0.65),
    ("post_surgery", 0.90),
    ("during_treatment", 1.00),
)
# Which specialties each timepoint needs (domain.md, "When a case is sent").
NEEDS = {
    "post_biopsy": ("pathology",),
    "pre_surgery": ("breast_surgery", "breast_radiology", "medical_oncology"),
    "post_surgery": ("medical_oncology", "radiation_oncology", "pathology"),
    "during_treatment": ("medical_oncology",),
}
RECORDS_NEEDED = {
    "post_biopsy": ("pathology_report",),
    "pre_surgery": ("pathology_report", "imaging_report"),
    "post_surgery": ("pathology_report", "operative_report"),
    "during_treatment": ("pathology_report", "treatment_plan_summary", "medication_list"),
}
# Per dimension: P(concur), P(differ minor | differ), reasons a differ verdict cites,
# and the alternative a differing reviewer proposes.
VERDICTS = {
    "diagnosis": (0.80, 0.6, ("grade", "er_pr", "her2", "histologic_type"), {"grade": 3}),
    "stage": (0.75, 0.6, ("tumour_size", "nodal_status", "imaging_extent"), {"t": "cT3"}),
    "plan": (
        0.58,
        0.5,
        ("surgery_choice", "systemic_therapy", "radiation"),
        {"surgery": "mastectomy"},
    ),
}
PAST_REVIEW = {"ready_for_board", "consensus", "reported", "acknowledged"}
PAST_CONSENSUS = {"consensus", "reported", "acknowledged"}
RELEASED = {"reported", "acknowledged"}
OPEN_REVIEW = {"in_review", "awaiting_records"}
ROUTED = PAST_REVIEW | OPEN_REVIEW | {"withdrawn"}

DIAGNOSIS = {
    "histologic_type": "invasive_ductal",
    "laterality": "left",
    "grade": 2,
    "er": "positive",
    "pr": "positive",
    "her2": "negative",
}
STAGE = {"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IB"}
PLAN = {"neoadjuvant": False, "surgery": "lumpectomy", "radiation": True, "endocrine": "letrozole"}
INSURANCE = {
    "insurer": "Acme Health",
    "second_opinion_covered": True,
    "required_by_insurer": False,
    "pathology_review_covered": True,
}
# Midnight UTC today: open cases are recent, released ones spread over the years before.
NOW = dt.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
YEARS = 3


# --- COPY text format ---------------------------------------------------------------

_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _cell(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":")).translate(_ESCAPES)
    return str(value).translate(_ESCAPES)


def _line(row: Iterable[Any]) -> str:
    return "\t".join(map(_cell, row)) + "\n"


COLUMNS: dict[str, tuple[str, ...]] = {
    "institutions": ("id", "name", "insurer_networks", "share_cases_in_practice"),
    "users": (
        "id",
        "email",
        "name",
        "password_hash",
        "role",
        "institution_id",
        "active",
        "created_at",
        "breast_subspecialty",
        "max_open_assignments",
        "totp_secret",
        "totp_enrolled_at",
        "mfa_exempt",
    ),
    "meetings": (
        "id",
        "starts_at",
        "duration_minutes",
        "place",
        "expected_specialties",
        "status",
        "series_id",
        "created_by_id",
        "created_at",
    ),
    "meeting_attendance": ("id", "meeting_id", "user_id"),
    "cases": (
        "id",
        "referrer_id",
        "institution_id",
        "status",
        "timepoint",
        "question",
        "requested_specialties",
        "patient_name",
        "patient_birth_date",
        "patient_mrn",
        "patient_sex",
        "diagnosis",
        "stage",
        "plan",
        "insurance",
        "urgent",
        "restricted",
        "added_specialties",
        "removed_specialties",
        "auto_reassign",
        "routing_note",
        "created_at",
        "updated_at",
        "submitted_at",
        "due_at",
        "paused_at",
        "paused_seconds",
        "reported_at",
        "acknowledged_at",
        "implementation",
        "implementation_note",
        "implementation_recorded_at",
    ),
    "case_events": ("id", "case_id", "from_status", "to_status", "at", "actor_id", "note"),
    "records": (
        "id",
        "case_id",
        "kind",
        "filename",
        "content_type",
        "size_bytes",
        "page_count",
        "sha256",
        "storage_key",
        "key_id",
        "uploaded_by_id",
        "uploaded_at",
    ),
    "assignments": (
        "id",
        "case_id",
        "reviewer_id",
        "specialty",
        "status",
        "purpose",
        "tie_break_dimension",
        "reason",
        "assigned_by_id",
        "created_at",
        "due_at",
        "responded_at",
        "completed_at",
        "decline_reason",
    ),
    "reviews": (
        "id",
        "assignment_id",
        "case_id",
        "reviewer_id",
        "additional_options",
        "retesting",
        "signed_at",
        "signature",
    ),
    "review_verdicts": (
        "id",
        "review_id",
        "dimension",
        "verdict",
        "severity",
        "alternative",
        "reasons",
        "rationale",
    ),
    "record_requests": (
        "id",
        "case_id",
        "assignment_id",
        "requested_by_id",
        "kinds",
        "message",
        "created_at",
        "closed_at",
        "answer",
    ),
    "consensus": (
        "id",
        "case_id",
        "version",
        "supersedes_id",
        "summary",
        "diagnosis",
        "stage",
        "plan",
        "recommendations",
        "signed_by_id",
        "signed_at",
    ),
    "agenda_items": ("id", "meeting_id", "case_id", "position", "added_by_id", "added_at"),
    "follow_up_questions": (
        "id",
        "case_id",
        "asked_by_id",
        "question",
        "asked_at",
        "answer",
        "answered_by_id",
        "answered_at",
    ),
    "notifications": (
        "id",
        "user_id",
        "case_id",
        "kind",
        "key",
        "message",
        "created_at",
        "read_at",
        "emailed_at",
    ),
    "web_sessions": ("id", "user_id", "data", "created_at", "last_seen_at"),
    "api_tokens": ("id", "user_id", "token_hash", "created_at", "expires_at", "revoked_at"),
    "audit_events": (*(name for name in chain.FIELDS if name != "prev_hash"), "tx"),
    "audit_chain": ("seq", "event_id", "prev_hash", "row_hash"),
}
# Parents before children (foreign keys are checked row by row).
ORDER = tuple(COLUMNS)


@dataclass
class Person:
    id: int
    email: str
    role: str
    institution_id: int


@dataclass
class Rows:
    """Rows waiting to be copied, per table, as COPY text lines."""

    lines: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in ORDER})
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 0))
    next_id: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ORDER, 1))

    def add(self, table: str, row: Iterable[Any]) -> None:
        self.lines[table].append(_line(row))
        self.counts[table] += 1

    def new_id(self, table: str) -> int:
        value = self.next_id[table]
        self.next_id[table] = value + 1
        return value

    def flush(self, conn: psycopg.Connection[Any]) -> None:
        with conn.cursor() as cur:
            for table in ORDER:
                lines = self.lines[table]
                if not lines:
                    continue
                columns = ", ".join(f'"{c}"' for c in COLUMNS[table])
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    for start in range(0, len(lines), 20_000):
                        copy.write("".join(lines[start : start + 20_000]))
                lines.clear()


class Audit:
    """Audit rows, chained as they are made (board/audit/chain.py), in id order with
    tx 0: the order the chainer takes rows of finished transactions in."""

    def __init__(self, rows: Rows, rng: random.Random):
        self.rows, self.rng = rows, rng
        self.prev = chain.GENESIS

    def add(
        self,
        at: dt.datetime,
        actor: Person | None,
        action: str,
        case_id: int | None = None,
        object_type: str | None = None,
        object_id: int | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        row: dict[str, Any] = {
            "id": self.rows.new_id("audit_events"),
            "at": at,
            "actor_id": actor.id if actor else None,
            "actor_role": actor.role if actor else None,
            "action": action,
            "case_id": case_id,
            "object_type": object_type,
            "object_id": object_id,
            "outcome": "ok",
            "source_ip": f"10.0.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}",
            "request_id": f"{self.rng.getrandbits(128):032x}",
            "detail": detail,
            "severity": None,
        }
        (link,) = chain.extend(row["id"] - 1, self.prev, [row])
        self.prev = link.row_hash
        self.rows.add("audit_events", (*(row[n] for n in chain.FIELDS if n != "prev_hash"), 0))
        self.rows.add("audit_chain", (link.seq, link.event_id, link.prev_hash, link.row_hash))


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    draw = rng.random()
    return next(name for name, upto in table if draw < upto)


def _scaled(value: int, cases: int, floor: int) -> int:
    return max(floor, round(value * cases / 100_000))


def _conninfo(database_url: str) -> str:
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


@dataclass
class Files:
    """Sealed record files, written straight into FilesystemStore's layout."""

    root: Path
    key: bytes
    plaintext: bytes

    def write(self, record_id: int, storage_key: str) -> None:
        sealed = crypto.seal(
            self.key, self.plaintext, crypto.associated_data(record_id, storage_key)
        )
        shard = self.root / storage_key[:2]
        path = shard / storage_key
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except FileNotFoundError:
            shard.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(sealed)


def seed(
    database_url: str,
    cases: int,
    *,
    seed: int = 1,
    records_dir: str | os.PathLike[str] | None = None,
    records_key: str | None = None,
) -> dict[str, Any]:
    """Seeds `cases` cases into the migrated, empty database at `database_url`.

    Returns {"counts": {table: rows}, "seconds": {...}, "case_id": a released case with
    three signed reviews (one by "reviewer"), "password", "totp_secret", and for each of
    "coordinator", "reviewer" (a pathologist with a full inbox: max_open_assignments open
    assignments, and its share of completed ones), "referrer" (the referrer of case_id)
    and "admin": {"id", "email", "token", "cookie"}}."""
    from tests.support.factories import PASSWORD, TOTP_SECRET

    started = time.perf_counter()
    rng = random.Random(seed)
    rows = Rows()
    audit = Audit(rows, rng)
    files = None
    key_id = crypto.key_id(hashlib.sha256(b"board bench records key").digest())
    if records_dir is not None:
        if records_key is None:
            raise ValueError("records_key is needed to seal files in records_dir")
        key = crypto.decode_key(records_key, source="records_key")
        key_id = crypto.key_id(key)
        from board.pdf_sample import sample_pdf

        files = Files(Path(records_dir), key, sample_pdf("Seeded pathology report"))
        files.root.mkdir(mode=0o700, parents=True, exist_ok=True)
    record_bytes = len(files.plaintext) if files else 1834
    record_sha = hashlib.sha256(files.plaintext if files else b"seeded").hexdigest()

    password_hash = _password_hash(PASSWORD)
    start = NOW - dt.timedelta(days=365 * YEARS)

    # --- people -------------------------------------------------------------------
    n_inst = _scaled(40, cases, 3)
    for i in range(1, n_inst + 1):
        rows.add(
            "institutions",
            (
                rows.new_id("institutions"),
                f"Bench institution {i}",
                ["Acme Health"] if i % 2 else [],
                i % 4 == 0,
            ),
        )
    people: dict[str, list[Person]] = {}

    def person(role: str, n: int, *, max_open: int = 10) -> Person:
        uid = rows.new_id("users")
        email = f"{role}{n}@bench.test"
        inst = 1 + (n - 1) % n_inst
        rows.add(
            "users",
            (
                uid,
                email,
                f"Dr. Bench {role.replace('_', ' ').title()} {n}",
                password_hash,
                role,
                inst,
                True,
                start,
                role in SPECIALTY_ROLE.values(),
                max_open,
                TOTP_SECRET,
                start,
                False,
            ),
        )
        p = Person(uid, email, role, inst)
        people.setdefault(role, []).append(p)
        return p

    coordinators = [person("coordinator", n) for n in range(1, 4)]
    admin = person("admin", 1)
    referrers = [person("referrer", n) for n in range(1, _scaled(400, cases, 3) + 1)]
    reviewers: dict[str, list[Person]] = {}
    for specialty, count in REVIEWERS_AT_100K.items():
        role = SPECIALTY_ROLE[specialty]
        reviewers[specialty] = [person(role, n) for n in range(1, _scaled(count, cases, 3) + 1)]
    inbox_owner = reviewers["pathology"][0]
    everyone = [p for group in people.values() for p in group]

    # Weekly meetings over the three years, and the next eight weeks.
    meetings: list[tuple[int, dt.datetime]] = []
    week = dt.timedelta(days=7)
    # Three years of them at 100,000 cases (fewer on a small board: a young one).
    weeks = min(YEARS * 52, max(4, cases // 4))
    at = (NOW - weeks * week).replace(hour=16)
    while at < NOW + 8 * week:
        mid = rows.new_id("meetings")
        status = "held" if at < NOW else "scheduled"
        rows.add(
            "meetings",
            (
                mid,
                at,
                60,
                "Room 4",
                list(SPECIALTY_ROLE),
                status,
                "bench-weekly",
                coordinators[0].id,
                at - 4 * week,
            ),
        )
        for user in rng.sample(everyone, min(5, len(everyone))):
            rows.add("meeting_attendance", (rows.new_id("meeting_attendance"), mid, user.id))
        meetings.append((mid, at))
        at += week
    agenda_positions: dict[int, int] = {}

    # --- accounts the benchmarks sign in as: a token and a session each -----------
    signed: dict[str, dict[str, Any]] = {}
    for name, who in (
        ("coordinator", coordinators[0]),
        ("reviewer", inbox_owner),
        ("referrer", referrers[0]),
        ("admin", admin),
    ):
        token, cookie = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        wall = dt.datetime.now(UTC)
        rows.add(
            "api_tokens",
            (
                rows.new_id("api_tokens"),
                who.id,
                hashlib.sha256(token.encode()).hexdigest(),
                wall,
                wall + dt.timedelta(days=30),
                None,
            ),
        )
        data = json.dumps({"_user_id": str(who.id), "_fresh": True})
        rows.add(
            "web_sessions", (hashlib.sha256(cookie.encode()).hexdigest(), who.id, data, wall, wall)
        )
        signed[name] = {"id": who.id, "email": who.email, "token": token, "cookie": cookie}
    # Everyone else: old sessions of a quarter of the accounts (expired, as most are).
    for who in everyone[::4]:
        then = NOW - dt.timedelta(hours=rng.randrange(1, 72))
        rows.add(
            "web_sessions",
            (
                secrets.token_hex(32),
                who.id,
                json.dumps({"_user_id": str(who.id), "_fresh": True}),
                then,
                then,
            ),
        )
    for who in everyone:
        audit.add(
            start + dt.timedelta(minutes=rng.randrange(60)), who, "login", None, "user", who.id
        )

    # --- cases ----------------------------------------------------------------------
    open_inbox = 0
    span = (NOW - start).total_seconds()
    case_with_reviews = None

    url = _conninfo(database_url)
    with psycopg.connect(url) as conn:
        have = conn.execute("SELECT count(*) FROM cases").fetchone()
        if have and have[0]:
            raise RuntimeError(f"the database already holds {have[0]} cases: seed an empty one")
        for index in range(cases):
            cid = rows.new_id("cases")
            first = index == 0  # the benchmarks' case: released, three signed reviews
            referrer = referrers[0] if first else referrers[rng.randrange(len(referrers))]
            status = "reported" if first else _pick(rng, STATUSES)
            timepoint = "post_surgery" if first else _pick(rng, TIMEPOINTS)
            # Cases in the order they were made; open ones are recent.
            if status in {"draft", "submitted", "unroutable"} | OPEN_REVIEW | {
                "ready_for_board",
                "consensus",
            }:
                created = NOW - dt.timedelta(days=rng.random() * 20 + 0.5)
            else:
                created = start + dt.timedelta(seconds=span * (index / max(cases, 1)) * 0.98)
            coordinator = coordinators[index % len(coordinators)]
            urgent = rng.random() < 0.05
            submitted = (
                None if status == "draft" else created + dt.timedelta(hours=rng.random() * 48)
            )
            due = submitted + dt.timedelta(days=3 if urgent else 7) if submitted else None
            paused = (
                submitted + dt.timedelta(days=1 + rng.random())
                if status == "awaiting_records"
                else None
            )
            reported = acknowledged = implementation = impl_at = None
            if status in RELEASED:
                assert submitted is not None
                tail = rng.random()
                reported = submitted + dt.timedelta(days=1.5 + 5 * rng.random() + 6 * tail**4)
                if status == "acknowledged":
                    acknowledged = reported + dt.timedelta(days=1 + 3 * rng.random())
                    if rng.random() < 0.5:
                        implementation = rng.choice(("fully", "partly", "not"))
                        impl_at = acknowledged + dt.timedelta(days=20)
            last = acknowledged or reported or paused or submitted or created
            rows.add(
                "cases",
                (
                    cid,
                    referrer.id,
                    referrer.institution_id,
                    status,
                    timepoint,
                    "Please confirm the grade, the stage and the plan.",
                    [],
                    f"Bench Patient {cid}",
                    dt.date(1950, 1, 1) + dt.timedelta(days=cid % 15000),
                    f"MRN-{cid:07d}",
                    "female",
                    DIAGNOSIS,
                    STAGE,
                    PLAN,
                    INSURANCE,
                    urgent,
                    rng.random() < 0.01 and not first,
                    [],
                    [],
                    False,
                    None,
                    created,
                    last,
                    submitted,
                    due,
                    paused,
                    0,
                    reported,
                    acknowledged,
                    implementation,
                    "As recommended." if implementation else None,
                    impl_at,
                ),
            )
            audit.add(created, referrer, "case_create", cid, "case", cid)
            audit.add(created + dt.timedelta(minutes=5), referrer, "case_update", cid, "case", cid)

            # Timeline.
            timeline = ["draft"]
            if submitted:
                timeline.append("submitted")
            if status == "unroutable":
                timeline.append("unroutable")
            elif status in ROUTED:
                timeline.append("in_review")
                if status == "awaiting_records":
                    timeline.append("awaiting_records")
                elif status == "withdrawn":
                    timeline.append("withdrawn")
                elif status in PAST_REVIEW:
                    timeline += [
                        s
                        for s in ("ready_for_board", "consensus", "reported", "acknowledged")
                        if s in PAST_REVIEW and _reached(status, s)
                    ]
            moment = created
            for before, after in zip([None, *timeline], timeline, strict=False):
                if after != "draft" and submitted:
                    moment = max(moment, submitted) + dt.timedelta(hours=rng.random() * 30)
                if after == "reported" and reported:
                    moment = reported
                if after == "acknowledged" and acknowledged:
                    moment = acknowledged
                actor = (
                    referrer
                    if after in {"draft", "submitted", "acknowledged", "withdrawn"}
                    else None
                )
                rows.add(
                    "case_events",
                    (
                        rows.new_id("case_events"),
                        cid,
                        before,
                        after,
                        moment,
                        actor.id if actor else None,
                        None,
                    ),
                )

            # Records.
            kinds = list(RECORDS_NEEDED[timepoint])
            if rng.random() < 0.2:
                kinds.append("imaging_report")
            record_ids = []
            for kind in kinds:
                rid = rows.new_id("records")
                storage_key = f"{rng.getrandbits(128):032x}"
                rows.add(
                    "records",
                    (
                        rid,
                        cid,
                        kind,
                        f"{kind}.pdf",
                        "application/pdf",
                        record_bytes,
                        1,
                        record_sha,
                        storage_key,
                        key_id,
                        referrer.id,
                        created + dt.timedelta(minutes=2),
                    ),
                )
                if files is not None:
                    files.write(rid, storage_key)
                record_ids.append(rid)
                audit.add(
                    created + dt.timedelta(minutes=2), referrer, "case_update", cid, "record", rid
                )
            if submitted:
                audit.add(submitted, referrer, "case_submit", cid, "case", cid)

            # Assignments and reviews.
            specialties: list[tuple[str, str]] = []
            if status in ROUTED:
                specialties = [(s, "primary") for s in NEEDS[timepoint]]
                if timepoint == "pre_surgery" and cid % 5 == 0:
                    specialties.append(("plastic_surgery", "primary"))
                if "pathology" in NEEDS[timepoint] and (first or rng.random() < 0.1):
                    specialties.append(("pathology", "additional"))
            used: set[int] = set()
            signed_reviews = 0
            for specialty, purpose in specialties:
                assert submitted is not None and due is not None
                pool = reviewers[specialty]
                if status in PAST_REVIEW or status == "withdrawn":
                    a_status = "completed" if status != "withdrawn" else "reassigned"
                else:
                    a_status = (
                        "completed" if rng.random() < 0.4 else rng.choice(("offered", "accepted"))
                    )
                if first and specialty == "pathology" and purpose == "primary":
                    reviewer = inbox_owner
                elif (
                    a_status in {"offered", "accepted"}
                    and specialty == "pathology"
                    and open_inbox < 10
                    and inbox_owner.id not in used
                ):
                    reviewer = inbox_owner
                    open_inbox += 1
                else:
                    free = [p for p in pool if p.id not in used]
                    if a_status in {"offered", "accepted"} and len(free) > 1:
                        # The inbox owner's open assignments stay at its capacity.
                        free = [p for p in free if p is not inbox_owner]
                    reviewer = free[rng.randrange(len(free))]
                used.add(reviewer.id)
                assigned_at = submitted + dt.timedelta(minutes=1)
                if rng.random() < 0.03 and any(p.id not in used for p in pool):
                    # An offer declined before this one.
                    free = [p for p in pool if p.id not in used]
                    other = free[rng.randrange(len(free))]
                    used.add(other.id)
                    aid = rows.new_id("assignments")
                    rows.add(
                        "assignments",
                        (
                            aid,
                            cid,
                            other.id,
                            specialty,
                            "declined",
                            "additional",
                            None,
                            "Least loaded eligible reviewer.",
                            None,
                            assigned_at,
                            due,
                            assigned_at + dt.timedelta(hours=3),
                            None,
                            "On leave this week.",
                        ),
                    )
                    assigned_at += dt.timedelta(hours=3)
                aid = rows.new_id("assignments")
                completed_at = (
                    min(
                        assigned_at + dt.timedelta(days=0.5 + rng.random() * 4),
                        (reported or NOW) - dt.timedelta(hours=6),
                    )
                    if a_status == "completed"
                    else None
                )
                responded = assigned_at + dt.timedelta(hours=2) if a_status != "offered" else None
                rows.add(
                    "assignments",
                    (
                        aid,
                        cid,
                        reviewer.id,
                        specialty,
                        a_status,
                        purpose,
                        None,
                        "Least loaded eligible reviewer of the specialty.",
                        coordinator.id if purpose == "additional" else None,
                        assigned_at,
                        due,
                        responded,
                        completed_at,
                        None,
                    ),
                )
                audit.add(
                    assigned_at,
                    coordinator if purpose == "additional" else None,
                    "assign",
                    cid,
                    "assignment",
                    aid,
                )
                _notify(
                    rows,
                    reviewer,
                    cid,
                    "assignment",
                    f"assignment:{aid}",
                    f"Case #{cid} is offered to you.",
                    assigned_at,
                    rng,
                )
                audit.add(
                    assigned_at + dt.timedelta(hours=1), reviewer, "case_view", cid, "case", cid
                )
                for rid in record_ids[:2]:
                    audit.add(
                        assigned_at + dt.timedelta(hours=1, minutes=5),
                        reviewer,
                        "record_download",
                        cid,
                        "record",
                        rid,
                    )
                if completed_at is not None:
                    review_id = rows.new_id("reviews")
                    rows.add(
                        "reviews",
                        (
                            review_id,
                            aid,
                            cid,
                            reviewer.id,
                            None,
                            ["her2_ish"] if rng.random() < 0.05 else [],
                            completed_at,
                            hashlib.sha256(f"{review_id}:{reviewer.id}".encode()).hexdigest(),
                        ),
                    )
                    for dimension, (concur, minor, reasons, alternative) in VERDICTS.items():
                        if rng.random() < concur:
                            verdict = ("concur", None, None, [], "Agree.")
                        else:
                            severity = "minor" if rng.random() < minor else "major"
                            verdict = (
                                "differ",
                                severity,
                                alternative,
                                rng.sample(reasons, 1 + (rng.random() < 0.3)),
                                "See the slides again.",
                            )
                        rows.add(
                            "review_verdicts",
                            (rows.new_id("review_verdicts"), review_id, dimension, *verdict),
                        )
                    audit.add(completed_at, reviewer, "review_submit", cid, "review", review_id)
                    signed_reviews += 1
            if first:
                case_with_reviews = cid

            # Record requests.
            if status == "awaiting_records" or (status in RELEASED and rng.random() < 0.03):
                assert paused is not None or status in RELEASED
                asked = paused or (submitted or created) + dt.timedelta(days=1)
                closed = None if status == "awaiting_records" else asked + dt.timedelta(days=1)
                rows.add(
                    "record_requests",
                    (
                        rows.new_id("record_requests"),
                        cid,
                        None,
                        coordinator.id,
                        ["imaging_report"],
                        "Please send the MRI report.",
                        asked,
                        closed,
                        "Sent." if closed else None,
                    ),
                )
                _notify(
                    rows,
                    referrer,
                    cid,
                    "record_request",
                    f"record_request:{cid}",
                    f"Records are asked for on case #{cid}.",
                    asked,
                    rng,
                )

            # Coordinator reads, meeting, consensus, release.
            if status in ROUTED or status == "unroutable":
                audit.add(last, coordinator, "case_view", cid, "case", cid)
            if status in PAST_REVIEW and (
                rng.random() < 0.3 or status in {"ready_for_board", "consensus"}
            ):
                when = (reported or NOW) - dt.timedelta(days=1)
                if status in {"ready_for_board", "consensus"}:
                    when = NOW + dt.timedelta(days=rng.random() * 14)
                mid = next((m for m, starts in meetings if starts >= when), meetings[-1][0])
                position = agenda_positions.get(mid, 0)
                agenda_positions[mid] = position + 1
                rows.add(
                    "agenda_items",
                    (
                        rows.new_id("agenda_items"),
                        mid,
                        cid,
                        position,
                        coordinator.id,
                        when - dt.timedelta(days=2),
                    ),
                )
            if status in PAST_CONSENSUS:
                signed_at = (reported or NOW) - dt.timedelta(hours=4)
                con_id = rows.new_id("consensus")
                rows.add(
                    "consensus",
                    (
                        con_id,
                        cid,
                        1,
                        None,
                        "The board concurs with the plan.",
                        DIAGNOSIS,
                        STAGE,
                        PLAN,
                        "Continue as planned.",
                        coordinator.id,
                        signed_at,
                    ),
                )
                audit.add(signed_at, coordinator, "consensus_sign", cid, "consensus", con_id)
                if rng.random() < 0.01:
                    later = rows.new_id("consensus")
                    rows.add(
                        "consensus",
                        (
                            later,
                            cid,
                            2,
                            con_id,
                            "Corrected: grade 3.",
                            {**DIAGNOSIS, "grade": 3},
                            STAGE,
                            PLAN,
                            "Continue as planned.",
                            coordinator.id,
                            signed_at + dt.timedelta(hours=1),
                        ),
                    )
                    audit.add(
                        signed_at + dt.timedelta(hours=1),
                        coordinator,
                        "consensus_sign",
                        cid,
                        "consensus",
                        later,
                    )
            if reported is not None:
                audit.add(reported, coordinator, "release", cid, "case", cid)
                _notify(
                    rows,
                    referrer,
                    cid,
                    "released",
                    f"released:{cid}",
                    f"The second opinion on case #{cid} is ready.",
                    reported,
                    rng,
                )
                audit.add(
                    reported + dt.timedelta(hours=2),
                    referrer,
                    "second_opinion_view",
                    cid,
                    "case",
                    cid,
                )
                audit.add(
                    reported + dt.timedelta(hours=2, minutes=1),
                    referrer,
                    "second_opinion_download",
                    cid,
                    "case",
                    cid,
                )
                audit.add(reported + dt.timedelta(hours=3), referrer, "case_view", cid, "case", cid)
                if acknowledged is not None:
                    audit.add(acknowledged, referrer, "case_update", cid, "case", cid)
                if rng.random() < 0.05:
                    asked = reported + dt.timedelta(days=2)
                    answered = rng.random() < 0.8
                    rows.add(
                        "follow_up_questions",
                        (
                            rows.new_id("follow_up_questions"),
                            cid,
                            referrer.id,
                            "Would you change the plan if the margin were 1 mm?",
                            asked,
                            "No: 1 mm is a clear margin for invasive disease."
                            if answered
                            else None,
                            coordinator.id if answered else None,
                            asked + dt.timedelta(days=1) if answered else None,
                        ),
                    )
            if index % CHUNK == CHUNK - 1:
                rows.flush(conn)
        rows.flush(conn)
        for table in ORDER:
            if table in ("web_sessions", "audit_chain"):  # no id sequence
                continue
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        conn.commit()
    copied = time.perf_counter() - started

    _count_summaries(database_url)
    counted = time.perf_counter() - started - copied
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # sets the visibility map: index-only scans
    elapsed = time.perf_counter() - started
    result: dict[str, Any] = {
        "cases": cases,
        "counts": dict(rows.counts),
        "seconds": {
            "generate_and_copy": round(copied, 1),
            "summaries": round(counted, 1),
            "total": round(elapsed, 1),
        },
        "case_id": case_with_reviews,
        "password": PASSWORD,
        "totp_secret": TOTP_SECRET,
        "records_files": files is not None,
        **signed,
    }
    return result


# The accounts the benchmarks sign in as, by the name the result gives them.
ACCOUNTS = {
    "coordinator": "coordinator1@bench.test",
    "reviewer": "pathologist1@bench.test",
    "referrer": "referrer1@bench.test",
    "admin": "admin1@bench.test",
}
# The benchmarks' case: the first one seeded (released, three signed reviews).
BENCH_CASE_ID = 1


def credentials(database_url: str) -> dict[str, Any]:
    """Fresh sign-ins on a database seed() filled before (a benchmark that reuses it):
    a new API token and web session for each account of ACCOUNTS, in the shape of
    seed()'s result (without the counts)."""
    from tests.support.factories import PASSWORD, TOTP_SECRET

    out: dict[str, Any] = {
        "case_id": BENCH_CASE_ID,
        "password": PASSWORD,
        "totp_secret": TOTP_SECRET,
    }
    wall = dt.datetime.now(UTC)
    with psycopg.connect(_conninfo(database_url)) as conn:
        for name, email in ACCOUNTS.items():
            found = conn.execute("SELECT id FROM users WHERE email = %s", (email,)).fetchone()
            if found is None:
                raise RuntimeError(f"{email} is not in the database: seed it first")
            token, cookie = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            conn.execute(
                "INSERT INTO api_tokens (user_id, token_hash, created_at, expires_at) "
                "VALUES (%s, %s, %s, %s)",
                (
                    found[0],
                    hashlib.sha256(token.encode()).hexdigest(),
                    wall,
                    wall + dt.timedelta(days=30),
                ),
            )
            conn.execute(
                "INSERT INTO web_sessions (id, user_id, data, created_at, last_seen_at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (
                    hashlib.sha256(cookie.encode()).hexdigest(),
                    found[0],
                    json.dumps({"_user_id": str(found[0]), "_fresh": True}),
                    wall,
                    wall,
                ),
            )
            out[name] = {"id": found[0], "email": email, "token": token, "cookie": cookie}
    return out


def seeded_cases(database_url: str) -> int | None:
    """How many cases the database holds (None when it does not exist or is not migrated)."""
    try:
        with psycopg.connect(_conninfo(database_url)) as conn:
            return int(conn.execute("SELECT count(*) FROM cases").fetchone()[0])  # type: ignore[index]
    except psycopg.Error:
        return None


_ORDERED = ("ready_for_board", "consensus", "reported", "acknowledged")


def _reached(status: str, step: str) -> bool:
    return _ORDERED.index(step) <= _ORDERED.index(status)


def _notify(
    rows: Rows,
    user: Person,
    case_id: int,
    kind: str,
    key: str,
    message: str,
    at: dt.datetime,
    rng: random.Random,
) -> None:
    read = (
        at + dt.timedelta(hours=5)
        if at < NOW - dt.timedelta(days=7) or rng.random() < 0.5
        else None
    )
    rows.add(
        "notifications",
        (
            rows.new_id("notifications"),
            user.id,
            case_id,
            kind,
            key,
            message,
            at,
            read,
            at + dt.timedelta(minutes=1),
        ),
    )


def _app(database_url: str) -> Any:
    from board import create_app

    return create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "CELERY": {"broker_url": "memory://"}}
    )


def _password_hash(password: str) -> str:
    from board.auth.services import hash_password

    return hash_password(password)


def _count_summaries(database_url: str) -> None:
    """What the review signing service would have kept, for the reviews copied here; and
    the case status counts (the trigger appended one row per copied case) folded to one
    row per status, as the workers' bookkeeping does."""
    from board.cases import status_counts
    from board.concordance import summaries
    from board.extensions import db

    app = _app(database_url)
    with app.app_context():
        summaries.rebuild()
        db.session.commit()
        status_counts.roll_up()
        db.session.remove()
        db.engine.dispose()


# --- the command --------------------------------------------------------------------


def ensure_database(url: str, *, fresh: bool) -> None:
    target = make_url(url)
    admin = _conninfo(str(target.set(database="postgres")))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.database,)
        ).fetchone()
        if exists and fresh:
            conn.execute(f'DROP DATABASE "{target.database}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{target.database}"')


def migrate(url: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLASK_")}
    env.pop("REDIS_URL", None)
    env["DATABASE_URL"] = url
    env["PYTHONPATH"] = str(ROOT)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "board", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


def prepare(url: str, *, fresh: bool = True) -> None:
    """A migrated, empty database at url (dropped and created again when fresh)."""
    ensure_database(url, fresh=fresh)
    migrate(url)


def bench_url(database: str = DATABASE) -> str:
    server = os.environ.get("BENCH_POSTGRES", "postgres@127.0.0.1:5432")
    return f"postgresql+psycopg://{server}/{database}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--database-url", help=f"default: {DATABASE} on BENCH_POSTGRES (recreated)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--records-dir")
    parser.add_argument("--records-key", help="base64 of 32 bytes (default: FLASK_RECORDS_KEY)")
    parser.add_argument("--fresh", action="store_true", help="drop and create the database first")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    url = args.database_url or bench_url()
    prepare(url, fresh=args.fresh or args.database_url is None)
    key = args.records_key or os.environ.get("FLASK_RECORDS_KEY")
    if args.records_dir and not key:
        key = base64.b64encode(hashlib.sha256(b"board bench records key").digest()).decode()
        print(f"records sealed with the bench key {key}")
    result = seed(url, args.cases, seed=args.seed, records_dir=args.records_dir, records_key=key)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(", ".join(f"{n:,} {table}" for table, n in result["counts"].items()))
        print(
            f"ids: case {result['case_id']}, "
            + ", ".join(
                f"{who} {result[who]['id']} ({result[who]['email']})"
                for who in ("coordinator", "reviewer", "referrer", "admin")
            )
        )
    seconds = result["seconds"]
    print(
        f"seeded {args.cases:,} cases in {seconds['total']:.1f} s (rows generated and copied "
        f"{seconds['generate_and_copy']:.1f} s, verdict summaries {seconds['summaries']:.1f} s, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())})"
    )
    if args.cases >= 100_000 and seconds["total"] >= BUDGET_SECONDS:
        print(f"OVER the {BUDGET_SECONDS:.0f} s budget for 100,000 cases")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
