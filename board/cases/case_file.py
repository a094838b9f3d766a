"""A case as its page and its JSON show it, read in ONE statement.

The case page (referrer and coordinator) and the API's case read show the same things:
the case's records and timeline, its assignments with their reviewers, the signed
reviews with their verdicts, the current consensus and the records requests, and what
follows from them (where readers disagree, what routing requires). Loaded through the
ORM that was seven statements and a few thousand Python calls of object loading for
two dozen rows (4.6 ms of CPU per view at 100,000 cases); the database builds it as
one JSON document instead (0.1 ms), read into the small frozen classes below.

They carry the attribute names of the ORM models they stand for (a FileReview has
`verdicts`, `verdict_for()`, `assignment`, `reviewer`...), so the templates and the API
serializers read either: the second opinion and the meeting page still show ORM rows.
They are read-only snapshots: nothing here is ever written back.

Call `load()` after the viewer was authorised and the read audited (cases.case_for_
viewer): it only reads. PostgreSQL builds the document with json_build_object and
json_agg; SQLite (the embedded `make run` mode) with json_object and json_group_array,
from the same field lists.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from board.auth.roles import REVIEWER_SPECIALTY, Role, Specialty
from board.db import utcnow
from board.extensions import db
from board.reviews.models import OPEN_ASSIGNMENT
from board.reviews.rules import Disagreement, ReviewerVerdict, disagreements
from board.routing.policy import Requirements, requirements

if TYPE_CHECKING:
    from board.cases.models import Case


# --- The read model ----------------------------------------------------------------------


@dataclass(frozen=True)
class Named:
    name: str


@dataclass(frozen=True)
class Person:
    """A user as the case file names them: a reviewer, a signer, who moved the case."""

    id: int
    name: str
    role: str
    institution: Named | None = None

    @property
    def specialty(self) -> Specialty | None:
        return REVIEWER_SPECIALTY.get(Role(self.role))


@dataclass(frozen=True)
class FileRecord:
    id: int
    case_id: int
    kind: str
    filename: str
    size_bytes: int
    page_count: int
    sha256: str
    uploaded_at: dt.datetime


@dataclass(frozen=True)
class FileEvent:
    id: int
    from_status: str | None
    to_status: str
    at: dt.datetime
    note: str | None
    actor: Person | None


@dataclass(frozen=True)
class FileAssignment:
    id: int
    case: Case
    reviewer: Person
    specialty: str
    purpose: str
    tie_break_dimension: str | None
    status: str
    reason: str
    created_at: dt.datetime
    due_at: dt.datetime
    decline_reason: str | None

    @property
    def case_id(self) -> int:
        return self.case.id

    @property
    def reviewer_id(self) -> int:
        return self.reviewer.id

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_ASSIGNMENT

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        # As Assignment.is_overdue: not while the case's clock is paused for records.
        return self.is_open and self.case.paused_at is None and (now or utcnow()) > self.due_at


@dataclass(frozen=True)
class FileVerdict:
    id: int
    dimension: str
    verdict: str
    severity: str | None
    alternative: dict[str, Any] | None
    reasons: list[str]
    rationale: str | None


@dataclass(frozen=True)
class FileReview:
    id: int
    assignment: FileAssignment
    additional_options: str | None
    retesting: list[str]
    signed_at: dt.datetime
    signature: str
    verdicts: tuple[FileVerdict, ...]

    @property
    def assignment_id(self) -> int:
        return self.assignment.id

    @property
    def case_id(self) -> int:
        return self.assignment.case_id

    @property
    def reviewer(self) -> Person:
        return self.assignment.reviewer

    @property
    def reviewer_id(self) -> int:
        return self.assignment.reviewer.id

    def verdict_for(self, dimension: str) -> FileVerdict | None:
        return next((v for v in self.verdicts if v.dimension == dimension), None)


@dataclass(frozen=True)
class FileConsensus:
    id: int
    case_id: int
    version: int
    summary: str
    diagnosis: dict[str, Any] | None
    stage: dict[str, Any] | None
    plan: dict[str, Any] | None
    recommendations: str | None
    signed_by: Person
    signed_at: dt.datetime


@dataclass(frozen=True)
class FileRequest:
    id: int
    case_id: int
    assignment_id: int | None
    requested_by: Person
    kinds: list[str]
    message: str
    created_at: dt.datetime
    closed_at: dt.datetime | None
    answer: str | None


@dataclass(frozen=True)
class CaseFile:
    case: Case
    records: tuple[FileRecord, ...]
    events: tuple[FileEvent, ...]
    assignments: tuple[FileAssignment, ...]
    reviews: tuple[FileReview, ...]
    consensus: FileConsensus | None
    record_requests: tuple[FileRequest, ...]

    def disagreements(self) -> list[Disagreement]:
        """Where the signed reviews of one specialty differ (board.reviews.rules)."""
        return disagreements(
            ReviewerVerdict(
                review.id,
                review.assignment.specialty,
                review.assignment.purpose,
                {v.dimension: v.verdict for v in review.verdicts},
            )
            for review in self.reviews
        )

    def requirements(self) -> Requirements:
        """The specialties the case needs and why (board.routing.policy)."""
        # Imported here: routing builds on the case services, which import this module.
        from board.routing.services import facts_from

        return requirements(facts_from(self.case, self.assignments, self.records))


# --- The one statement -------------------------------------------------------------------

# Each part of the document: its name, the table it is read from (with the joins its
# fields need), and the fields as (key, SQL expression, is JSON); a JSON column is
# embedded as JSON (SQLite keeps it as text, which json() reads back).
_PERSON = "'id', {u}.id, 'name', {u}.name, 'role', {u}.role"
_PARTS: dict[str, tuple[str, str, list[tuple[str, str, bool]]]] = {
    "records": (
        "records r",
        "r.case_id = :case_id",
        [
            ("id", "r.id", False),
            ("case_id", "r.case_id", False),
            ("kind", "r.kind", False),
            ("filename", "r.filename", False),
            ("size_bytes", "r.size_bytes", False),
            ("page_count", "r.page_count", False),
            ("sha256", "r.sha256", False),
            ("uploaded_at", "r.uploaded_at", False),
        ],
    ),
    "events": (
        "case_events e LEFT JOIN users eu ON eu.id = e.actor_id",
        "e.case_id = :case_id",
        [
            ("id", "e.id", False),
            ("from_status", "e.from_status", False),
            ("to_status", "e.to_status", False),
            ("at", "e.at", False),
            ("note", "e.note", False),
            ("actor_id", "eu.id", False),
            ("actor_name", "eu.name", False),
            ("actor_role", "eu.role", False),
        ],
    ),
    "assignments": (
        "assignments a JOIN users au ON au.id = a.reviewer_id "
        "JOIN institutions ai ON ai.id = au.institution_id",
        "a.case_id = :case_id",
        [
            ("id", "a.id", False),
            ("reviewer_id", "au.id", False),
            ("reviewer_name", "au.name", False),
            ("reviewer_role", "au.role", False),
            ("institution", "ai.name", False),
            ("specialty", "a.specialty", False),
            ("purpose", "a.purpose", False),
            ("tie_break_dimension", "a.tie_break_dimension", False),
            ("status", "a.status", False),
            ("reason", "a.reason", False),
            ("created_at", "a.created_at", False),
            ("due_at", "a.due_at", False),
            ("decline_reason", "a.decline_reason", False),
        ],
    ),
    "reviews": (
        "reviews v",
        "v.case_id = :case_id",
        [
            ("id", "v.id", False),
            ("assignment_id", "v.assignment_id", False),
            ("additional_options", "v.additional_options", False),
            ("retesting", "v.retesting", True),
            ("signed_at", "v.signed_at", False),
            ("signature", "v.signature", False),
        ],
    ),
    "verdicts": (
        "review_verdicts d JOIN reviews dv ON dv.id = d.review_id",
        "dv.case_id = :case_id",
        [
            ("id", "d.id", False),
            ("review_id", "d.review_id", False),
            ("dimension", "d.dimension", False),
            ("verdict", "d.verdict", False),
            ("severity", "d.severity", False),
            ("alternative", "d.alternative", True),
            ("reasons", "d.reasons", True),
            ("rationale", "d.rationale", False),
        ],
    ),
    "consensus": (
        "consensus c JOIN users cu ON cu.id = c.signed_by_id",
        # The current version only: the highest.
        "c.case_id = :case_id AND c.version = "
        "(SELECT max(cv.version) FROM consensus cv WHERE cv.case_id = :case_id)",
        [
            ("id", "c.id", False),
            ("case_id", "c.case_id", False),
            ("version", "c.version", False),
            ("summary", "c.summary", False),
            ("diagnosis", "c.diagnosis", True),
            ("stage", "c.stage", True),
            ("plan", "c.plan", True),
            ("recommendations", "c.recommendations", False),
            ("signer_id", "cu.id", False),
            ("signer_name", "cu.name", False),
            ("signer_role", "cu.role", False),
            ("signed_at", "c.signed_at", False),
        ],
    ),
    "requests": (
        "record_requests q JOIN users qu ON qu.id = q.requested_by_id",
        "q.case_id = :case_id",
        [
            ("id", "q.id", False),
            ("case_id", "q.case_id", False),
            ("assignment_id", "q.assignment_id", False),
            ("requester_id", "qu.id", False),
            ("requester_name", "qu.name", False),
            ("requester_role", "qu.role", False),
            ("kinds", "q.kinds", True),
            ("message", "q.message", False),
            ("created_at", "q.created_at", False),
            ("closed_at", "q.closed_at", False),
            ("answer", "q.answer", False),
        ],
    ),
}


@cache
def _statement(dialect: str) -> Any:
    """SELECT of one JSON array per part. Built once per dialect from _PARTS (constants:
    no value is ever formatted into it; the case id is a bound parameter)."""
    columns = []
    for name, (source, where, fields) in _PARTS.items():
        if dialect == "postgresql":
            pairs = ", ".join(f"'{key}', {expr}" for key, expr, _ in fields)
            array = f"coalesce(json_agg(json_build_object({pairs})), '[]')"
        else:
            pairs = ", ".join(
                f"'{key}', {f'json({expr})' if is_json else expr}" for key, expr, is_json in fields
            )
            array = f"coalesce(json_group_array(json_object({pairs})), '[]')"
        columns.append(f"(SELECT {array} FROM {source} WHERE {where}) AS {name}")
    return text("SELECT " + ",\n       ".join(columns))


def _time(value: str | None) -> dt.datetime | None:
    """A timestamp as PostgreSQL's JSON gives it (ISO 8601 with its offset) or SQLite
    keeps it (naive UTC text), as an aware UTC datetime."""
    if value is None:
        return None
    parsed = dt.datetime.fromisoformat(value)
    return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)


def _at(value: str) -> dt.datetime:
    parsed = _time(value)
    assert parsed is not None
    return parsed


def _rows(raw: Any) -> list[dict[str, Any]]:
    """One part's array (psycopg decodes JSON; sqlite3 hands back text), by id: neither
    database promises the order of an aggregate."""
    rows = json.loads(raw) if isinstance(raw, str) else raw
    return sorted(rows, key=lambda row: row["id"])


def _person(row: dict[str, Any], prefix: str, institution: str | None = None) -> Person:
    return Person(
        row[f"{prefix}_id"],
        row[f"{prefix}_name"],
        row[f"{prefix}_role"],
        Named(institution) if institution is not None else None,
    )


def load(case: Case) -> CaseFile:
    """Everything about `case` its page and its JSON show, in one statement."""
    row = db.session.execute(
        _statement(db.session.get_bind().dialect.name), {"case_id": case.id}
    ).one()
    records = tuple(
        FileRecord(**{**r, "uploaded_at": _at(r["uploaded_at"])}) for r in _rows(row.records)
    )
    events = tuple(
        FileEvent(
            e["id"],
            e["from_status"],
            e["to_status"],
            _at(e["at"]),
            e["note"],
            _person(e, "actor") if e["actor_id"] is not None else None,
        )
        for e in _rows(row.events)
    )
    assignments = tuple(
        FileAssignment(
            a["id"],
            case,
            _person(a, "reviewer", a["institution"]),
            a["specialty"],
            a["purpose"],
            a["tie_break_dimension"],
            a["status"],
            a["reason"],
            _at(a["created_at"]),
            _at(a["due_at"]),
            a["decline_reason"],
        )
        for a in _rows(row.assignments)
    )
    by_assignment = {a.id: a for a in assignments}
    verdicts: dict[int, list[FileVerdict]] = {}
    for v in _rows(row.verdicts):
        review_id = v.pop("review_id")
        verdicts.setdefault(review_id, []).append(
            FileVerdict(**{**v, "reasons": v["reasons"] or []})
        )
    reviews = tuple(
        FileReview(
            r["id"],
            by_assignment[r["assignment_id"]],
            r["additional_options"],
            r["retesting"] or [],
            _at(r["signed_at"]),
            r["signature"],
            tuple(verdicts.get(r["id"], ())),
        )
        for r in _rows(row.reviews)
    )
    return CaseFile(
        case,
        records,
        events,
        assignments,
        reviews,
        _consensus(_rows(row.consensus)),
        tuple(
            FileRequest(
                q["id"],
                q["case_id"],
                q["assignment_id"],
                _person(q, "requester"),
                q["kinds"] or [],
                q["message"],
                _at(q["created_at"]),
                _time(q["closed_at"]),
                q["answer"],
            )
            for q in _rows(row.requests)
        ),
    )


def _consensus(rows: Sequence[dict[str, Any]]) -> FileConsensus | None:
    if not rows:
        return None
    c = rows[-1]
    return FileConsensus(
        c["id"],
        c["case_id"],
        c["version"],
        c["summary"],
        c["diagnosis"],
        c["stage"],
        c["plan"],
        c["recommendations"],
        _person(c, "signer"),
        _at(c["signed_at"]),
    )
