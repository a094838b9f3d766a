"""The OpenAPI 3 document, built from the same pydantic schemas that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from board.board_meetings.schemas import (
    AgendaInput,
    AnswerInput,
    AttendanceInput,
    ConsensusInput,
    FollowUpInput,
    ImplementationInput,
    MeetingInput,
    MoveInput,
    ReorderInput,
)
from board.cases.rules import RecordKind
from board.cases.schemas import BreakGlassInput, CaseInput, PracticeSharingInput, RestrictedInput
from board.reviews.schemas import DeclineInput, ReviewInput, TieBreakInput
from board.routing.schemas import (
    AutoReassignInput,
    AvailabilityInput,
    SpecialtyChangeInput,
    UrgencyInput,
)

_MODELS: list[type[BaseModel]] = [
    CaseInput,
    ReviewInput,
    DeclineInput,
    ConsensusInput,
    TieBreakInput,
    SpecialtyChangeInput,
    UrgencyInput,
    AutoReassignInput,
    AvailabilityInput,
    MeetingInput,
    MoveInput,
    AttendanceInput,
    AgendaInput,
    ReorderInput,
    FollowUpInput,
    AnswerInput,
    ImplementationInput,
    RestrictedInput,
    BreakGlassInput,
    PracticeSharingInput,
]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _responses(
    ok: str, *codes: int, ok_code: int = 200, pdf: bool = False, array: bool = False
) -> dict[str, Any]:
    content = (
        {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
        if pdf
        else {"application/json": {"schema": {"type": "array" if array else "object"}}}
    )
    out: dict[str, Any] = {str(ok_code): {"description": ok, "content": content}}
    texts = {
        400: "Unreadable request",
        401: "Missing or invalid token",
        403: "A restricted case: open it by break-glass first",
        404: "Not found, or not yours to see",
        409: "Not allowed in the current state",
        413: "Upload larger than 20 MB",
        422: "Invalid fields, one message per field",
        429: "Too many failed sign-ins; wait and try again",
        500: "The stored record failed its integrity check (missing or corrupt); nothing sent",
    }
    for code in codes:
        out[str(code)] = {
            "description": texts[code],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return out


def _id(name: str) -> dict[str, Any]:
    # The ids the URL map accepts (board.errors.IdConverter): 1 to the largest integer key.
    schema = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
    return {"name": name, "in": "path", "required": True, "schema": schema}


@cache
def openapi_document() -> dict[str, Any]:
    _, defs = models_json_schema(
        [(m, "validation") for m in _MODELS], ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Error"] = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "details": {}},
    }
    schemas["OperationOutcome"] = {
        "type": "object",
        "description": "HL7 FHIR OperationOutcome: each issue's expression is the path of "
        "the problem in the bundle (e.g. Bundle.entry[2].resource.valueCodeableConcept)",
        "required": ["resourceType", "issue"],
        "properties": {
            "resourceType": {"const": "OperationOutcome"},
            "issue": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "severity": {"type": "string"},
                        "code": {"type": "string"},
                        "diagnostics": {"type": "string"},
                        "expression": {"type": "array", "items": {"type": "string"}},
                    },
                },
            },
        },
    }
    secured: list[dict[str, list[str]]] = [{"bearer": []}]
    case_path = [_id("case_id")]
    assignment_path = [_id("assignment_id")]
    meeting_path = [_id("meeting_id")]
    paths: dict[str, Any] = {
        "/api/v1/auth/token": {
            "post": {
                "summary": "Exchange email, password and TOTP code for a bearer token",
                "description": "otp is the current 6-digit code of the account's "
                "authenticator app; every account needs it except the demo seed's. Each "
                "code works once. Failed attempts are throttled per account and address.",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["username", "password"],
                        "properties": {
                            "username": {"type": "string"},
                            "password": {"type": "string"},
                            "otp": {"type": "string", "pattern": "^[0-9 ]{6,7}$"},
                        },
                    }
                ),
                "responses": _responses("A token", 401, 422, 429),
            }
        },
        "/api/v1/staging": {
            "get": {
                "summary": "AJCC 8th stage group for T, N, M and markers (no token needed)",
                "parameters": [
                    {
                        "name": name,
                        "in": "query",
                        "required": name in ("kind", "t", "n", "m"),
                        "schema": {"type": "string"},
                    }
                    for name in (
                        "kind",
                        "t",
                        "n",
                        "m",
                        "grade",
                        "er",
                        "pr",
                        "her2",
                        "recurrence_score",
                    )
                ],
                "responses": _responses("The stage group with its explanation", 422),
            }
        },
        "/api/v1/health": {
            "get": {
                "summary": "Database and broker reachability",
                "responses": _responses("Status of each component"),
            }
        },
        "/api/v1/cases": {
            "post": {
                "summary": "Create a draft case",
                "security": secured,
                "requestBody": _json_body(_ref("CaseInput")),
                "responses": _responses("The draft", 401, 404, 422, ok_code=201),
            },
            "get": {
                "summary": "The caller's cases, newest first, a page at a time",
                "description": (
                    "Keyset pages: `next_before` in the answer is the `before` of the next "
                    "(older) page, null on the last one."
                ),
                "security": secured,
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "before",
                        "in": "query",
                        "description": "Only cases with an id below this one",
                        "schema": {"type": "integer", "minimum": 1},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "Cases per page (default 100)",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                "responses": _responses("Cases", 401, 422),
            },
        },
        "/api/v1/cases/{case_id}": {
            "parameters": case_path,
            "get": {
                "summary": "One case with assignments and reviews",
                "security": secured,
                "responses": _responses("The case", 401, 404),
            },
            "put": {
                "summary": "Replace a draft's fields",
                "security": secured,
                "requestBody": _json_body(_ref("CaseInput")),
                "responses": _responses("The draft", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/records": {
            "parameters": case_path,
            "post": {
                "summary": "Upload a record (PDF)",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["kind", "file"],
                                "properties": {
                                    "kind": {
                                        "type": "string",
                                        "enum": [k.value for k in RecordKind],
                                    },
                                    "file": {"type": "string", "format": "binary"},
                                },
                            }
                        }
                    },
                },
                "responses": _responses(
                    "The record with its sha256", 401, 404, 409, 413, 422, ok_code=201
                ),
            },
        },
        "/api/v1/records/{record_id}": {
            "parameters": [_id("record_id")],
            "get": {
                "summary": "Download a record",
                "description": "The PDF as an attachment (RFC 6266 file name), checked "
                "against the SHA-256 recorded at upload.",
                "security": secured,
                "responses": _responses("The PDF", 401, 404, 500, pdf=True),
            },
        },
        "/api/v1/cases/{case_id}/submit": {
            "parameters": case_path,
            "post": {
                "summary": "Submit a complete draft for routing",
                "security": secured,
                "responses": _responses("Accepted for routing", 401, 404, 409, 422, ok_code=202),
            },
        },
        "/api/v1/cases/{case_id}/withdraw": {
            "parameters": case_path,
            "post": {
                "summary": "Withdraw a case",
                "security": secured,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["reason"],
                        "properties": {"reason": {"type": "string"}},
                    }
                ),
                "responses": _responses("Withdrawn", 401, 404, 409, 422),
            },
        },
        "/api/v1/assignments": {
            "get": {
                "summary": "The caller's assignments",
                "security": secured,
                "responses": _responses("Assignments", 401),
            }
        },
        "/api/v1/assignments/{assignment_id}/accept": {
            "parameters": assignment_path,
            "post": {
                "summary": "Accept an assignment",
                "security": secured,
                "responses": _responses("Accepted", 401, 404, 409),
            },
        },
        "/api/v1/assignments/{assignment_id}/decline": {
            "parameters": assignment_path,
            "post": {
                "summary": "Decline with a reason; the case is routed again",
                "security": secured,
                "requestBody": _json_body(_ref("DeclineInput")),
                "responses": _responses("Declined", 401, 404, 409, 422),
            },
        },
        "/api/v1/assignments/{assignment_id}/review": {
            "parameters": assignment_path,
            "post": {
                "summary": "Sign the review (once)",
                "security": secured,
                "requestBody": _json_body(_ref("ReviewInput")),
                "responses": _responses("The signed review", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/assignments/{assignment_id}/records-request": {
            "parameters": assignment_path,
            "post": {
                "summary": "Reviewer: ask the referrer for records; the case's clock pauses",
                "security": secured,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["kinds", "message"],
                        "properties": {
                            "kinds": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"type": "string", "enum": [k.value for k in RecordKind]},
                            },
                            "message": {"type": "string", "minLength": 1},
                        },
                    }
                ),
                "responses": _responses("The records request", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/assignments/{assignment_id}/reassign": {
            "parameters": assignment_path,
            "post": {
                "summary": "Coordinator: reassign (to a reviewer, or let routing pick)",
                "security": secured,
                "responses": _responses("The old assignment", 401, 404, 409, 422),
            },
        },
        "/api/v1/record-requests/{request_id}/answer": {
            "parameters": [_id("request_id")],
            "post": {
                "summary": "Referrer: close a records request with a written answer",
                "security": secured,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["answer"],
                        "properties": {"answer": {"type": "string", "minLength": 1}},
                    }
                ),
                "responses": _responses("The closed request", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/assignments": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: assign a reviewer by hand (a second reader when "
                "the specialty already has its reviewer)",
                "security": secured,
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["reviewer_id"],
                        "properties": {"reviewer_id": {"type": "integer"}},
                    }
                ),
                "responses": _responses("The assignment", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/cases/{case_id}/tie-breaks": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: ask a third reviewer to break a tie where two "
                "readers of a specialty disagree on a dimension (once per dimension)",
                "security": secured,
                "requestBody": _json_body(_ref("TieBreakInput")),
                "responses": _responses(
                    "The tie-break assignment", 401, 404, 409, 422, ok_code=201
                ),
            },
        },
        "/api/v1/cases/{case_id}/consensus": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: sign the consensus",
                "security": secured,
                "requestBody": _json_body(_ref("ConsensusInput")),
                "responses": _responses("The consensus", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/cases/{case_id}/release": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: release the second opinion",
                "security": secured,
                "responses": _responses("Released", 401, 404, 409),
            },
        },
        "/api/v1/cases/{case_id}/second-opinion.pdf": {
            "parameters": case_path,
            "get": {
                "summary": "The second opinion as PDF",
                "security": secured,
                "responses": _responses("The PDF", 401, 404, pdf=True),
            },
        },
        "/api/v1/cases/import/fhir": {
            "post": {
                "summary": "Referrer: import an HL7 FHIR R4 Bundle (collection or transaction) of "
                "mCODE and US Core resources as a draft case owned by the caller; returns the "
                "case id and the warnings (contradictions imported as given). Invalid FHIR is a "
                "422 and a bundle over 16 MB a 413, each an OperationOutcome naming the path of "
                "every problem; nothing is created then",
                "security": secured,
                "requestBody": {
                    "required": True,
                    "content": {
                        media: {"schema": {"type": "object", "required": ["resourceType"]}}
                        for media in ("application/fhir+json", "application/json")
                    },
                },
                "responses": {
                    "201": {
                        "description": "The draft case and the import's warnings",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "integer"},
                                        "warnings": {
                                            "type": "array",
                                            "items": {
                                                "type": "object",
                                                "properties": {
                                                    "code": {"type": "string"},
                                                    "message": {"type": "string"},
                                                    "path": {"type": "string"},
                                                },
                                            },
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "401": _responses("", 401)["401"],
                    "404": _responses("", 404)["404"],
                    **{
                        str(code): {
                            "description": text,
                            "content": {
                                "application/fhir+json": {"schema": _ref("OperationOutcome")}
                            },
                        }
                        for code, text in (
                            (413, "Bundle larger than 16 MB (OperationOutcome)"),
                            (422, "Invalid FHIR or mCODE, one issue per path (OperationOutcome)"),
                        )
                    },
                },
            }
        },
        "/api/v1/cases/{case_id}/fhir": {
            "parameters": case_path,
            "get": {
                "summary": "The released second opinion as an HL7 FHIR R4 document Bundle: "
                "Composition (consult note), ServiceRequest, one Task per assignment with its "
                "status history (Provenance), Observations per verdict and for the computed "
                "AJCC stage groups (mCODE), the report PDF as a DocumentReference. The referrer "
                "of the case or the coordinator",
                "security": secured,
                "responses": {
                    "200": {
                        "description": "A FHIR document Bundle",
                        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
                    },
                    "401": _responses("", 401)["401"],
                    "404": _responses("", 404)["404"],
                    "409": _responses("", 409)["409"],
                },
            },
        },
        "/api/v1/cases/{case_id}/specialties": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: add or remove specialties; the case is routed again "
                "and a removed specialty's open assignment ends (a signed review stays)",
                "security": secured,
                "requestBody": _json_body(_ref("SpecialtyChangeInput")),
                "responses": _responses("The case", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/urgency": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: mark a submitted case urgent or not; its due date and "
                "its open assignments' due dates move",
                "security": secured,
                "requestBody": _json_body(_ref("UrgencyInput")),
                "responses": _responses("The case", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/auto-reassign": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: whether an overdue assignment moves to the next "
                "eligible reviewer by itself",
                "security": secured,
                "requestBody": _json_body(_ref("AutoReassignInput")),
                "responses": _responses("The case", 401, 404, 422),
            },
        },
        "/api/v1/availability": {
            "get": {
                "summary": "Reviewer: my times away that are not over yet",
                "security": secured,
                "responses": _responses("Times away", 401, 404),
            },
            "post": {
                "summary": "Reviewer: add a time away (UTC); routing passes me over meanwhile",
                "security": secured,
                "requestBody": _json_body(_ref("AvailabilityInput")),
                "responses": _responses("The time away", 401, 404, 422, ok_code=201),
            },
        },
        "/api/v1/availability/{window_id}": {
            "parameters": [_id("window_id")],
            "delete": {
                "summary": "Reviewer: remove one of my times away",
                "security": secured,
                "responses": {
                    "204": {"description": "Removed"},
                    **{k: v for k, v in _responses("", 401, 404).items() if k != "200"},
                },
            },
        },
        "/api/v1/cases/{case_id}/acknowledge": {
            "parameters": case_path,
            "post": {
                "summary": "Referrer: acknowledge the second opinion",
                "security": secured,
                "responses": _responses("Acknowledged", 401, 404, 409),
            },
        },
        "/api/v1/meetings": {
            "get": {
                "summary": "Coordinator: every meeting with its agenda, by start time",
                "security": secured,
                "responses": _responses("The meetings", 401, 404, array=True),
            },
            "post": {
                "summary": "Coordinator: schedule a meeting, or `weeks` weekly meetings "
                "sharing a series id",
                "security": secured,
                "requestBody": _json_body(_ref("MeetingInput")),
                "responses": _responses(
                    "The meetings created", 401, 404, 409, 422, ok_code=201, array=True
                ),
            },
        },
        "/api/v1/meetings/{meeting_id}/move": {
            "parameters": meeting_path,
            "post": {
                "summary": "Coordinator: move a meeting to a new start time",
                "security": secured,
                "requestBody": _json_body(_ref("MoveInput")),
                "responses": _responses("The meeting", 401, 404, 409, 422),
            },
        },
        "/api/v1/meetings/{meeting_id}/cancel": {
            "parameters": meeting_path,
            "post": {
                "summary": "Coordinator: cancel a meeting (its agenda stays visible)",
                "security": secured,
                "responses": _responses("The meeting", 401, 404),
            },
        },
        "/api/v1/meetings/{meeting_id}/attendance": {
            "parameters": meeting_path,
            "post": {
                "summary": "Coordinator: record who attended (replaces the list)",
                "security": secured,
                "requestBody": _json_body(_ref("AttendanceInput")),
                "responses": _responses("The attendees", 401, 404, 409, 422),
            },
        },
        "/api/v1/meetings/{meeting_id}/agenda": {
            "parameters": meeting_path,
            "post": {
                "summary": "Coordinator: put a case on the agenda (ready for board, or in "
                "review with a major discordance or a reviewer disagreement)",
                "security": secured,
                "requestBody": _json_body(_ref("AgendaInput")),
                "responses": _responses("The agenda item", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/meetings/{meeting_id}/agenda/{case_id}": {
            "parameters": [*meeting_path, *case_path],
            "delete": {
                "summary": "Coordinator: take a case off the agenda",
                "security": secured,
                "responses": {
                    "204": {"description": "Removed"},
                    **{k: v for k, v in _responses("", 401, 404).items() if k != "200"},
                },
            },
        },
        "/api/v1/meetings/{meeting_id}/agenda/reorder": {
            "parameters": meeting_path,
            "post": {
                "summary": "Coordinator: reorder the agenda (every case id, in the new order)",
                "security": secured,
                "requestBody": _json_body(_ref("ReorderInput")),
                "responses": _responses("The new order", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/follow-ups": {
            "parameters": case_path,
            "post": {
                "summary": "Referrer: ask a follow-up question on a released second opinion "
                "(at most three per case)",
                "security": secured,
                "requestBody": _json_body(_ref("FollowUpInput")),
                "responses": _responses("The question", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/follow-ups/{question_id}/answer": {
            "parameters": [_id("question_id")],
            "post": {
                "summary": "Coordinator: answer a follow-up question (an addendum to the "
                "second opinion)",
                "security": secured,
                "requestBody": _json_body(_ref("AnswerInput")),
                "responses": _responses("The answered question", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/implementation": {
            "parameters": case_path,
            "post": {
                "summary": "Referrer: record whether the recommendation was carried out "
                "(fully, partly or not; a note is required unless fully)",
                "security": secured,
                "requestBody": _json_body(_ref("ImplementationInput")),
                "responses": _responses("Recorded", 401, 404, 409, 422),
            },
        },
        "/api/v1/cases/{case_id}/restricted": {
            "parameters": case_path,
            "post": {
                "summary": "The submitting referrer: restrict the case (a staff member or a "
                "public figure) or lift it; coordinators then open it only by break-glass",
                "security": secured,
                "requestBody": _json_body(_ref("RestrictedInput")),
                "responses": _responses("The case", 401, 404, 422),
            },
        },
        "/api/v1/cases/{case_id}/break-glass": {
            "parameters": case_path,
            "post": {
                "summary": "Coordinator: open a restricted case with a written reason; access "
                "for BREAK_GLASS_MINUTES, audited at high severity, the team told",
                "security": secured,
                "requestBody": _json_body(_ref("BreakGlassInput")),
                "responses": _responses("The grant", 401, 404, 409, 422, ok_code=201),
            },
        },
        "/api/v1/institutions/{institution_id}/practice-sharing": {
            "parameters": [_id("institution_id")],
            "post": {
                "summary": "Administrator: whether the referrers of an institution see each "
                "other's cases (audited)",
                "security": secured,
                "requestBody": _json_body(_ref("PracticeSharingInput")),
                "responses": _responses("The institution", 401, 404, 422),
            },
        },
        "/api/v1/analytics": {
            "get": {
                "summary": "Coordinator or administrator: concordance per dimension, differ "
                "reasons, kappa with 95% intervals, turnaround, overdue assignments, workload "
                "and major-change rates beside the published ranges; `figures` holds the same "
                "rows as the CSV export",
                "security": secured,
                "parameters": [
                    {"name": name, "in": "query", "schema": schema, "description": text}
                    for name, schema, text in (
                        ("from", {"type": "string", "format": "date"}, "submitted on or after"),
                        ("to", {"type": "string", "format": "date"}, "submitted on or before"),
                        ("timepoint", {"type": "string"}, "the case's timepoint"),
                        ("specialty", {"type": "string"}, "reviews of this specialty only"),
                        (
                            "institution",
                            {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                            "the referrer's institution id",
                        ),
                    )
                ],
                "responses": _responses("The figures", 401, 404, 422),
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "The board: breast-cancer second opinions", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
    }
