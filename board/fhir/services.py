"""The FHIR import and export services: own their transactions and audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from board.audit import services as audit
from board.auth import policy
from board.auth.models import User
from board.auth.roles import Role
from board.cases import services as cases
from board.cases.models import Case, CaseEvent
from board.cases.schemas import CaseInput
from board.errors import Conflict, NotFound
from board.extensions import db
from board.fhir import exporter, importer, validation
from board.fhir.importer import ImportWarning
from board.fhir.models import FhirImport
from board.fhir.outcome import FhirRefused, Issue
from board.transactions import atomic
from board.validation import InvalidInput, parse

# The structured case has no field for the insurer in FHIR terms we trust enough to route
# on (network restrictions, what is covered): the referrer fills it in on the draft.
_INSURANCE_PLACEHOLDER = {
    "insurer": "to be completed",
    "second_opinion_covered": False,
    "pathology_review_covered": False,
}


@dataclass(frozen=True)
class Imported:
    case_id: int
    warnings: tuple[ImportWarning, ...]


def _issues_from(exc: InvalidInput, paths: dict[str, str], prefix: str = "") -> list[Issue]:
    """The case schema's refusals, at the place in the bundle each field came from."""
    out = []
    for error in exc.errors:
        field = prefix + error.field
        where = next(
            (paths[k] for k in sorted(paths, key=len, reverse=True) if field.startswith(k)),
            "Bundle",
        )
        out.append(Issue(where, f"{field}: {error.message}", "value"))
    return out


@atomic
def import_referral(user: User, raw: bytes) -> Imported:
    """A draft case from an mCODE Bundle, with its records, in one transaction: a bundle
    refused anywhere leaves nothing behind."""
    if not policy.can_import_referral(Role(user.role)):
        audit.record("fhir_import", actor=user, object_type="case", outcome="denied")
        db.session.commit()
        raise NotFound()
    bundle = validation.check(raw)
    referral = importer.map_bundle(bundle)
    body = dict(referral.case, insurance=_INSURANCE_PLACEHOLDER)
    try:
        data = parse(CaseInput, body)
    except InvalidInput as exc:
        raise FhirRefused(_issues_from(exc, referral.paths)) from None
    warnings = [
        *referral.warnings,
        ImportWarning(
            "insurance_missing",
            "The referral does not carry the insurance the board routes by; complete it on "
            "the draft before submitting",
            "Bundle",
        ),
    ]
    case = cases.new_draft(user, data)
    case.insurance = {}
    for attachment in referral.attachments:
        try:
            cases.attach_record(
                user, case, kind=attachment.kind, filename=attachment.filename, data=attachment.data
            )
        except InvalidInput as exc:
            raise FhirRefused(
                [Issue(attachment.path, f"the attachment {e.message}", "value") for e in exc.errors]
            ) from None
    row = FhirImport(
        case_id=case.id,
        imported_by_id=user.id,
        bundle_type=referral.bundle_type,
        bundle_identifier=referral.bundle_identifier,
        warnings=[w.as_json() for w in warnings],
        history=list(referral.history),
        extras=dict(referral.extras),
    )
    db.session.add(row)
    audit.record("fhir_import", actor=user, case_id=case.id, object_type="case", object_id=case.id)
    db.session.commit()
    return Imported(case.id, tuple(warnings))


def import_for_case(case_id: int) -> FhirImport | None:
    """The import a case came from, if any (the case page shows its warnings)."""
    return db.session.scalar(select(FhirImport).where(FhirImport.case_id == case_id))


def export_case(user: User, case_id: int) -> dict[str, Any]:
    """The released second opinion as a FHIR document Bundle, validated before it leaves."""
    # Imported here: the second opinion builds on reviews and meetings, which import cases.
    from board.board_meetings.report import second_opinion_pdf
    from board.board_meetings.services import second_opinion_for

    opinion = second_opinion_for(user, case_id, action="fhir_export")
    case: Case = opinion.case
    if case.reported_at is None:
        raise Conflict("The second opinion is exported once it is released")
    source = import_for_case(case.id)
    events = list(
        db.session.scalars(
            select(CaseEvent).where(CaseEvent.case_id == case.id).order_by(CaseEvent.id)
        )
    )
    document = exporter.build_document(
        exporter.ExportInput(
            case=exporter.case_facts(case),
            history=tuple(source.history) if source else (),
            extras=dict(source.extras) if source else {},
            assignments=tuple(exporter.assignment_facts(a) for a in opinion.assignments),
            reviews=tuple(exporter.review_facts(r) for r in opinion.reviews),
            consensus=exporter.consensus_facts(opinion.consensus),
            released_at=case.reported_at,
            submitted_at=case.submitted_at,
            events=tuple((e.to_status, e.at) for e in events),
            report_pdf=second_opinion_pdf(opinion),
        )
    )
    validation.validate_bundle(document)
    problems = exporter.profile_problems(document)
    if problems:  # a defect of the exporter, never of the caller's input
        raise RuntimeError(f"the FHIR export breaks mCODE profile rules: {problems}")
    return document
