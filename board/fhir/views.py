"""HL7 FHIR routes of the JSON API: thin, on the API blueprint (same token, same 404s).

POST /api/v1/cases/import/fhir  referrer: an mCODE Bundle -> a draft case + warnings
GET  /api/v1/cases/<id>/fhir    referrer (own case) or coordinator: the released second
                                opinion as a FHIR document Bundle
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from board.api.views import bp, caller, token_required
from board.fhir import services
from board.fhir.outcome import FhirRefused, Issue, operation_outcome

FHIR_JSON = "application/fhir+json"
# A referral's bundle carries its reports as base64 PDFs; 16 MiB holds a 12 MB PDF
# and keeps a 20 MB bundle out. FHIR_MAX_BUNDLE_BYTES in the config overrides it.
DEFAULT_MAX_BUNDLE_BYTES = 16 * 1024 * 1024


def _fhir(payload: Any, status: int) -> Response:
    return Response(json.dumps(payload), status=status, mimetype=FHIR_JSON)


def _too_large(limit: int) -> Response:
    issue = Issue(
        "Bundle",
        f"is larger than the {limit // (1024 * 1024)} MB the board accepts; send the "
        "documents as separate uploads",
        "too-costly",
    )
    return _fhir(operation_outcome([issue]), 413)


@bp.post("/cases/import/fhir")
@token_required
def import_fhir() -> Response:
    limit = int(current_app.config.get("FHIR_MAX_BUNDLE_BYTES", DEFAULT_MAX_BUNDLE_BYTES))
    if request.content_length is not None and request.content_length > limit:
        return _too_large(limit)
    try:
        raw = request.stream.read(limit + 1)
    except RequestEntityTooLarge:
        return _too_large(limit)
    if len(raw) > limit:
        return _too_large(limit)
    try:
        imported = services.import_referral(caller(), raw)
    except FhirRefused as exc:
        return _fhir(operation_outcome(exc.issues), exc.status)
    return Response(
        json.dumps({"id": imported.case_id, "warnings": [w.as_json() for w in imported.warnings]}),
        status=201,
        mimetype="application/json",
    )


@bp.get("/cases/<int:case_id>/fhir")
@token_required
def export_fhir(case_id: int) -> Response:
    return _fhir(services.export_case(caller(), case_id), 200)
