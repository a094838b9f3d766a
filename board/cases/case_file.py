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
viewer): it only reads. The statement is board/json_read.py's: PostgreSQL and SQLite
(the embedded `make run` mode) build it from the same part definitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import TextClause

from board import json_read
from board.auth.people import Named, Person
from board.auth.roles import Specialty
from board.cases.models import case_is_overdue
from board.cases.rules import CaseStatus
from board.extensions import db
from board.reviews.models import (
    ACTIVE_ASSIGNMENT,
    OPEN_ASSIGNMENT,
    Purpose,
    assignment_is_overdue,
)
from board.reviews.rules import Disagreement, ReviewerVerdict, disagreements
from board.routing.policy import Requirements, requirements

if TYPE_CHECKING:
    from board.cases.models import Case


# --- The read model ----------------------------------------------------------------------


@dataclass(frozen=True)
class FileCase:
    """The case's own row, as the API reads it (load_by_id): every column of
    board.cases.models.Case, with its status_enum and is_overdue()."""

    id: int
    referrer_id: int
    institution_id: int
    status: str
    timepoint: str
    question: str
    requested_specialties: list[str]
    patient_name: str
    patient_birth_date: dt.date
    patient_mrn: str
    patient_sex: str
    diagnosis: dict[str, Any]
    stage: dict[str, Any]
    plan: dict[str, Any]
    insurance: dict[str, Any]
    urgent: bool
    restricted: bool
    added_specialties: list[str]
    removed_specialties: list[str]
    auto_reassign: bool
    routing_note: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    submitted_at: dt.datetime | None
    due_at: dt.datetime | None
    paused_at: dt.datetime | None
    paused_seconds: int
    reported_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    implementation: str | None
    implementation_note: str | None
    implementation_recorded_at: dt.datetime | None

    @property
    def status_enum(self) -> CaseStatus:
        return CaseStatus(self.status)

    def is_overdue(self, now: dt.datetime | None = None) -> bool:
        return case_is_overdue(self.status, self.due_at, self.paused_at, now)


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
    case: Case | FileCase
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
        return assignment_is_overdue(self.status, self.due_at, self.case.paused_at, now)


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
class FileImport:
    """The HL7 FHIR referral the case came from (board/fhir), with its warnings."""

    id: int
    imported_at: dt.datetime
    bundle_type: str
    bundle_identifier: str | None
    warnings: list[dict[str, Any]]
    history: list[dict[str, Any]]
    extras: dict[str, Any]


@dataclass(frozen=True)
class FileMeeting:
    """A meeting whose agenda holds the case."""

    id: int
    starts_at: dt.datetime
    status: str


@dataclass(frozen=True)
class FileQuestion:
    """A referrer's follow-up question on the released second opinion."""

    id: int
    case_id: int
    question: str
    asked_at: dt.datetime
    answer: str | None
    answered_at: dt.datetime | None


@dataclass(frozen=True)
class CaseFile:
    case: Case | FileCase
    records: tuple[FileRecord, ...]
    events: tuple[FileEvent, ...]
    assignments: tuple[FileAssignment, ...]
    reviews: tuple[FileReview, ...]
    consensus: FileConsensus | None
    record_requests: tuple[FileRequest, ...]
    fhir_import: FileImport | None = None
    # The coordinator's page only (load(..., coordinator=True)).
    agenda_meetings: tuple[FileMeeting, ...] = ()
    follow_up_questions: tuple[FileQuestion, ...] = ()

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

    def uncovered(self, needs: Requirements) -> list[Specialty]:
        """The required specialties no open or signed primary assignment covers."""
        covered = {
            a.specialty
            for a in self.assignments
            if a.purpose == Purpose.PRIMARY.value and a.status in ACTIVE_ASSIGNMENT
        }
        return [r.specialty for r in needs.required if r.specialty.value not in covered]

    def requirements(self) -> Requirements:
        """The specialties the case needs and why (board.routing.policy)."""
        # Imported here: routing builds on the case services, which import this module.
        from board.routing.services import facts_from

        return requirements(facts_from(self.case, self.assignments, self.records))


# --- The one statement -------------------------------------------------------------------

F = json_read.Field
_CASE = ":case_id"
_PARTS = (
    json_read.Part(
        "records",
        "records r",
        f"r.case_id = {_CASE}",
        (
            F("id", "r.id"),
            F("case_id", "r.case_id"),
            F("kind", "r.kind"),
            F("filename", "r.filename"),
            F("size_bytes", "r.size_bytes"),
            F("page_count", "r.page_count"),
            F("sha256", "r.sha256"),
            F("uploaded_at", "r.uploaded_at"),
        ),
        "r.id",
    ),
    json_read.Part(
        # The actor by primary key per event (a handful), not a join the planner would
        # answer by hashing every account.
        "events",
        "case_events e",
        f"e.case_id = {_CASE}",
        (
            F("id", "e.id"),
            F("from_status", "e.from_status"),
            F("to_status", "e.to_status"),
            F("at", "e.at"),
            F("note", "e.note"),
            F("actor_id", "e.actor_id"),
            F("actor_name", "(SELECT eu.name FROM users eu WHERE eu.id = e.actor_id)"),
            F("actor_role", "(SELECT eu.role FROM users eu WHERE eu.id = e.actor_id)"),
        ),
        "e.id",
    ),
    json_read.Part(
        "assignments",
        "assignments a JOIN users au ON au.id = a.reviewer_id "
        "JOIN institutions ai ON ai.id = au.institution_id",
        f"a.case_id = {_CASE}",
        (
            F("id", "a.id"),
            F("reviewer_id", "au.id"),
            F("reviewer_name", "au.name"),
            F("reviewer_role", "au.role"),
            F("institution", "ai.name"),
            F("specialty", "a.specialty"),
            F("purpose", "a.purpose"),
            F("tie_break_dimension", "a.tie_break_dimension"),
            F("status", "a.status"),
            F("reason", "a.reason"),
            F("created_at", "a.created_at"),
            F("due_at", "a.due_at"),
            F("decline_reason", "a.decline_reason"),
        ),
        "a.id",
    ),
    json_read.Part(
        "reviews",
        "reviews v",
        f"v.case_id = {_CASE}",
        (
            F("id", "v.id"),
            F("assignment_id", "v.assignment_id"),
            F("additional_options", "v.additional_options"),
            F("retesting", "v.retesting", json=True),
            F("signed_at", "v.signed_at"),
            F("signature", "v.signature"),
        ),
        "v.id",
    ),
    json_read.Part(
        "verdicts",
        "review_verdicts d JOIN reviews dv ON dv.id = d.review_id",
        f"dv.case_id = {_CASE}",
        (
            F("id", "d.id"),
            F("review_id", "d.review_id"),
            F("dimension", "d.dimension"),
            F("verdict", "d.verdict"),
            F("severity", "d.severity"),
            F("alternative", "d.alternative", json=True),
            F("reasons", "d.reasons", json=True),
            F("rationale", "d.rationale"),
        ),
        "d.id",
    ),
    json_read.Part(
        # The current version only: the highest.
        "consensus",
        "consensus c JOIN users cu ON cu.id = c.signed_by_id",
        f"c.case_id = {_CASE}",
        (
            F("id", "c.id"),
            F("case_id", "c.case_id"),
            F("version", "c.version"),
            F("summary", "c.summary"),
            F("diagnosis", "c.diagnosis", json=True),
            F("stage", "c.stage", json=True),
            F("plan", "c.plan", json=True),
            F("recommendations", "c.recommendations"),
            F("signer_id", "cu.id"),
            F("signer_name", "cu.name"),
            F("signer_role", "cu.role"),
            F("signed_at", "c.signed_at"),
        ),
        "c.version DESC",
        limit=1,
    ),
    json_read.Part(
        "requests",
        "record_requests q JOIN users qu ON qu.id = q.requested_by_id",
        f"q.case_id = {_CASE}",
        (
            F("id", "q.id"),
            F("case_id", "q.case_id"),
            F("assignment_id", "q.assignment_id"),
            F("requester_id", "qu.id"),
            F("requester_name", "qu.name"),
            F("requester_role", "qu.role"),
            F("kinds", "q.kinds", json=True),
            F("message", "q.message"),
            F("created_at", "q.created_at"),
            F("closed_at", "q.closed_at"),
            F("answer", "q.answer"),
        ),
        "q.id",
    ),
    json_read.Part(
        "fhir_import",
        "fhir_imports f",
        f"f.case_id = {_CASE}",
        (
            F("id", "f.id"),
            F("imported_at", "f.imported_at"),
            F("bundle_type", "f.bundle_type"),
            F("bundle_identifier", "f.bundle_identifier"),
            F("warnings", "f.warnings", json=True),
            F("history", "f.history", json=True),
            F("extras", "f.extras", json=True),
        ),
    ),
)
# The case's own row, for a reader that has not loaded it (load_by_id).
_CASE_TIMES = (
    "created_at",
    "updated_at",
    "submitted_at",
    "due_at",
    "paused_at",
    "reported_at",
    "acknowledged_at",
    "implementation_recorded_at",
)
_CASE_JSON = (
    "requested_specialties",
    "diagnosis",
    "stage",
    "plan",
    "insurance",
    "added_specialties",
    "removed_specialties",
)
_CASE_PART = json_read.Part(
    "case_row",
    "cases cr",
    f"cr.id = {_CASE}",
    tuple(F(name, f"cr.{name}", json=name in _CASE_JSON) for name in FileCase.__dataclass_fields__),
)
# What only the coordinator's page shows.
_COORDINATOR_PARTS = (
    json_read.Part(
        "agenda_meetings",
        "meetings m JOIN agenda_items ma ON ma.meeting_id = m.id",
        f"ma.case_id = {_CASE}",
        (F("id", "m.id"), F("starts_at", "m.starts_at"), F("status", "m.status")),
        "m.starts_at, m.id",
    ),
    json_read.Part(
        "follow_ups",
        "follow_up_questions fq",
        f"fq.case_id = {_CASE}",
        (
            F("id", "fq.id"),
            F("case_id", "fq.case_id"),
            F("question", "fq.question"),
            F("asked_at", "fq.asked_at"),
            F("answer", "fq.answer"),
            F("answered_at", "fq.answered_at"),
        ),
        "fq.id",
    ),
)


@cache
def _statement(dialect: str, coordinator: bool, with_case: bool = False) -> TextClause:
    parts = ((_CASE_PART,) if with_case else ()) + _PARTS
    return json_read.statement(dialect, parts + (_COORDINATOR_PARTS if coordinator else ()))


_rows, _time, _at = json_read.rows, json_read.time, json_read.at


def _person(row: dict[str, Any], prefix: str, institution: str | None = None) -> Person:
    return Person(
        row[f"{prefix}_id"],
        row[f"{prefix}_name"],
        row[f"{prefix}_role"],
        Named(institution) if institution is not None else None,
    )


def load(case: Case, *, coordinator: bool = False) -> CaseFile:
    """Everything about `case` its page and its JSON show, in one statement; with
    `coordinator`, also the meetings whose agenda holds it and its follow-up questions
    (what the coordinator's page adds)."""
    row = db.session.execute(
        _statement(db.session.get_bind().dialect.name, coordinator), {"case_id": case.id}
    ).one()
    return _file(case, row, coordinator=coordinator)


def load_by_id(case_id: int) -> CaseFile | None:
    """The case's row and everything about it the API's JSON shows, in one statement,
    without an ORM object (None: no such case). Authorise and audit before showing it
    (board/cases/services.py file_for_viewer)."""
    row = db.session.execute(
        _statement(db.session.get_bind().dialect.name, False, True), {"case_id": case_id}
    ).one()
    found = _rows(row.case_row)
    if not found:
        return None
    return _file(_case(found[0]), row, coordinator=False)


def _case(raw: dict[str, Any]) -> FileCase:
    values = dict(raw)
    for name in _CASE_TIMES:
        values[name] = _time(values[name])
    for name in ("urgent", "restricted", "auto_reassign"):
        values[name] = bool(values[name])  # SQLite's JSON says 0 and 1
    values["patient_birth_date"] = dt.date.fromisoformat(values["patient_birth_date"])
    for name in ("requested_specialties", "added_specialties", "removed_specialties"):
        values[name] = values[name] or []
    for name in ("diagnosis", "stage", "plan", "insurance"):
        values[name] = values[name] or {}
    values["paused_seconds"] = values["paused_seconds"] or 0
    return FileCase(**values)


def _file(case: Case | FileCase, row: Any, *, coordinator: bool) -> CaseFile:
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
        _import(_rows(row.fhir_import)),
        tuple(
            FileMeeting(m["id"], _at(m["starts_at"]), m["status"])
            for m in _rows(row.agenda_meetings)
        )
        if coordinator
        else (),
        tuple(
            FileQuestion(
                q["id"],
                q["case_id"],
                q["question"],
                _at(q["asked_at"]),
                q["answer"],
                _time(q["answered_at"]),
            )
            for q in _rows(row.follow_ups)
        )
        if coordinator
        else (),
    )


def _import(rows: Sequence[dict[str, Any]]) -> FileImport | None:
    if not rows:
        return None
    f = rows[0]
    return FileImport(
        f["id"],
        _at(f["imported_at"]),
        f["bundle_type"],
        f["bundle_identifier"],
        f["warnings"] or [],
        f["history"] or [],
        f["extras"] or {},
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
