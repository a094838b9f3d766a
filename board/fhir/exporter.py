"""The released second opinion as a FHIR R4 document Bundle. Pure: no Flask, SQLAlchemy
or Celery; the service passes plain facts in and validates what comes out.

mCODE profiles and codes for the patient, the primary cancer condition, the TNM
categories and stage groups (submitted, and the board's own computed ones tagged as
such) and the tumor markers; a Composition (consult note) with the question, each
review and the consensus; the ServiceRequest; one Task per assignment whose status
history is a chain of Provenance resources; an Observation per verdict; the report PDF
as a DocumentReference attachment.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from board.cases.stage_check import check_stage
from board.fhir import codes
from board.fhir.outcome import Issue
from board.fhir.validation import profile_issues

_NS = uuid.UUID("6f1c1a52-3b7e-4b59-9a53-0c6f3f6b5e21")


@dataclass(frozen=True)
class AssignmentFacts:
    id: int
    specialty: str
    purpose: str
    status: str
    reviewer: str
    created_at: dt.datetime
    due_at: dt.datetime
    responded_at: dt.datetime | None
    completed_at: dt.datetime | None
    decline_reason: str | None


@dataclass(frozen=True)
class VerdictFacts:
    dimension: str
    verdict: str
    severity: str | None
    rationale: str | None
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class ReviewFacts:
    id: int
    assignment_id: int
    reviewer: str
    specialty: str
    signed_at: dt.datetime
    verdicts: tuple[VerdictFacts, ...]
    additional_options: str | None


@dataclass(frozen=True)
class ConsensusFacts:
    version: int
    summary: str
    recommendations: str | None
    signed_at: dt.datetime


@dataclass(frozen=True)
class CaseFacts:
    id: int
    patient: Mapping[str, Any]
    timepoint: str
    question: str
    diagnosis: Mapping[str, Any]
    stage: Mapping[str, Any]
    plan: Mapping[str, Any]


@dataclass(frozen=True)
class ExportInput:
    case: CaseFacts
    history: tuple[Mapping[str, Any], ...]
    extras: Mapping[str, Any]
    assignments: tuple[AssignmentFacts, ...]
    reviews: tuple[ReviewFacts, ...]
    consensus: ConsensusFacts
    released_at: dt.datetime
    submitted_at: dt.datetime | None
    events: tuple[tuple[str, dt.datetime], ...] = field(default_factory=tuple)
    report_pdf: bytes = b""


# --- Facts from the models (attribute access only, so this module stays pure) ------------------


def case_facts(case: Any) -> CaseFacts:
    return CaseFacts(
        id=case.id,
        patient={
            "name": case.patient_name,
            "birth_date": case.patient_birth_date.isoformat(),
            "mrn": case.patient_mrn,
            "sex": case.patient_sex,
        },
        timepoint=case.timepoint,
        question=case.question,
        diagnosis=dict(case.diagnosis or {}),
        stage=dict(case.stage or {}),
        plan=dict(case.plan or {}),
    )


def assignment_facts(a: Any) -> AssignmentFacts:
    return AssignmentFacts(
        a.id,
        a.specialty,
        a.purpose,
        a.status,
        a.reviewer.name,
        a.created_at,
        a.due_at,
        a.responded_at,
        a.completed_at,
        a.decline_reason,
    )


def review_facts(r: Any) -> ReviewFacts:
    return ReviewFacts(
        r.id,
        r.assignment_id,
        r.reviewer.name,
        r.assignment.specialty,
        r.signed_at,
        tuple(
            VerdictFacts(v.dimension, v.verdict, v.severity, v.rationale, tuple(v.reasons or ()))
            for v in r.verdicts
        ),
        r.additional_options,
    )


def consensus_facts(c: Any) -> ConsensusFacts:
    return ConsensusFacts(c.version, c.summary, c.recommendations, c.signed_at)


# --- Helpers ---------------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.isoformat()


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": list(codings)}
    if text:
        out["text"] = text
    return out


def _narrative(*paragraphs: str) -> dict[str, str]:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p) or "<p>-</p>"
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{body}</div>'}


class _Builder:
    def __init__(self, case_id: int):
        self.case_id = case_id
        self.entries: list[dict[str, Any]] = []

    def ref(self, kind: str, key: str) -> str:
        return f"urn:uuid:{uuid.uuid5(_NS, f'case-{self.case_id}-{kind}-{key}')}"

    def add(self, key: str, resource: dict[str, Any]) -> str:
        url = self.ref(resource["resourceType"], key)
        resource["id"] = url.removeprefix("urn:uuid:")
        self.entries.append({"fullUrl": url, "resource": resource})
        return url


def _observation(
    subject: str,
    code: dict[str, Any],
    *,
    profile: str | None = None,
    category: str = "laboratory",
    effective: str | None = None,
    **value: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            _concept(_coding(codes.OBS_CATEGORY, category), text=category.replace("-", " "))
        ],
        "code": code,
        "subject": {"reference": subject},
    }
    if profile:
        out["meta"] = {"profile": [profile]}
    if effective:
        out["effectiveDateTime"] = effective
    out.update(value)
    return out


def _ajcc_method() -> dict[str, Any]:
    return _concept(
        _coding(codes.SNOMED, codes.AJCC_8TH[0], codes.AJCC_8TH[1]), text="AJCC 8th edition"
    )


# --- Clinical resources --------------------------------------------------------------------


def _patient(b: _Builder, case: CaseFacts) -> str:
    p = case.patient
    return b.add(
        "patient",
        {
            "resourceType": "Patient",
            "meta": {"profile": [codes.PROFILE["patient"]]},
            "identifier": [
                {
                    "type": _concept(
                        _coding("http://terminology.hl7.org/CodeSystem/v2-0203", "MR"),
                        text="Medical record number",
                    ),
                    "value": p["mrn"],
                }
            ],
            "name": [{"use": "official", "text": p["name"]}],
            "gender": p["sex"],
            "birthDate": p["birth_date"],
        },
    )


def _tnm_value(category: str) -> dict[str, Any]:
    codings = [_coding(codes.AJCC, category)]
    if category in codes.SNOMED_FOR_CATEGORY:
        codings.append(
            _coding(
                codes.SNOMED,
                codes.SNOMED_FOR_CATEGORY[category],
                f"American Joint Committee on Cancer {category}",
            )
        )
    return _concept(*codings, text=category)


def _basis_of(category: str) -> str:
    return "pathological" if category.startswith(("p", "yp")) else "clinical"


def _stage_resources(b: _Builder, case: CaseFacts, patient: str, when: str) -> list[str]:
    refs = []
    stage = case.stage
    for name in (
        "t",
        "n",
        "m",
        "clinical_t",
        "clinical_n",
        "clinical_m",
        "pathological_t",
        "pathological_n",
        "pathological_m",
    ):
        value = stage.get(name)
        if not value:
            continue
        axis = name[-1]
        basis = name.rsplit("_", 1)[0] if "_" in name else _basis_of(str(value))
        loinc = codes.TNM_LOINC[(basis, axis)]
        code_codings = [_coding(codes.LOINC, loinc, codes.TNM_DISPLAY[loinc])]
        if name in ("t", "n", "m"):
            # The case keeps t/n/m as submitted apart from clinical_*/pathological_*.
            code_codings.append(_coding(codes.BOARD, name, f"{name.upper()} as submitted"))
        refs.append(
            b.add(
                f"stage-{name}",
                _observation(
                    patient,
                    _concept(*code_codings),
                    profile=codes.PROFILE[f"tnm_{axis}"],
                    category="survey",
                    effective=when,
                    valueCodeableConcept=_tnm_value(str(value)),
                    method=_ajcc_method(),
                ),
            )
        )
    for kind in ("anatomic", "clinical_prognostic", "pathological_prognostic"):
        group = stage.get(kind)
        if group:
            refs.append(
                b.add(
                    f"stage-group-{kind}",
                    _stage_group(patient, kind, str(group), when, computed=False),
                )
            )
    return refs


def _stage_group_code(kind: str) -> dict[str, Any]:
    codings = []
    if kind in codes.STAGE_GROUP_LOINC:
        loinc, display = codes.STAGE_GROUP_LOINC[kind]
        codings.append(_coding(codes.LOINC, loinc, display))
    codings.append(
        _coding(
            codes.BOARD,
            f"{kind.replace('_', '-')}-stage-group",
            f"AJCC 8th {kind.replace('_', ' ')} stage group",
        )
    )
    return _concept(*codings)


def _stage_group(
    patient: str, kind: str, group: str, when: str, *, computed: bool, note: str | None = None
) -> dict[str, Any]:
    out = _observation(
        patient,
        _stage_group_code(kind),
        profile=codes.PROFILE["tnm_stage_group"],
        category="survey",
        effective=when,
        valueCodeableConcept=_concept(_coding(codes.AJCC, group), text=f"Stage {group}"),
        method=_ajcc_method(),
    )
    if computed:
        out["meta"]["tag"] = [
            _coding(codes.BOARD, codes.BOARD_COMPUTED_TAG, "Computed by the board (AJCC 8th)")
        ]
    if note:
        out["note"] = [{"text": note}]
    return out


def _condition(b: _Builder, case: CaseFacts, patient: str) -> str:
    d = case.diagnosis
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "meta": {"profile": [codes.PROFILE["primary_cancer_condition"]]},
        "clinicalStatus": _concept(
            _coding("http://terminology.hl7.org/CodeSystem/condition-clinical", "active")
        ),
        "verificationStatus": _concept(
            _coding("http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")
        ),
        "category": [
            _concept(
                _coding(
                    "http://terminology.hl7.org/CodeSystem/condition-category",
                    "problem-list-item",
                )
            )
        ],
        "code": _concept(
            _coding(codes.SNOMED, "254837009", "Malignant neoplasm of breast"),
            text="Breast cancer",
        ),
        "subject": {"reference": patient},
    }
    histology = d.get("histologic_type")
    if histology:
        codings = [_coding(codes.BOARD, str(histology))]
        if histology in codes.ICDO3_FOR_HISTOLOGY:
            codings.insert(0, _coding(codes.ICDO3, codes.ICDO3_FOR_HISTOLOGY[histology]))
        resource["extension"] = [
            {
                "url": codes.HISTOLOGY_EXTENSION,
                "valueCodeableConcept": _concept(*codings, text=str(histology).replace("_", " ")),
            }
        ]
    side = d.get("laterality")
    site = _concept(_coding(codes.SNOMED, *codes.BREAST_STRUCTURE))
    if side:
        site["extension"] = [
            {
                "url": codes.MCODE + "mcode-laterality-qualifier",
                "valueCodeableConcept": _concept(
                    _coding(codes.SNOMED, codes.QUALIFIER_FOR_LATERALITY[side], side)
                ),
            }
        ]
    resource["bodySite"] = [site]
    return b.add("condition", resource)


def _value_for(name: str, value: Any) -> dict[str, Any]:
    if name in ("er", "pr", "her2"):
        codings = []
        if value in codes.SNOMED_FOR_RESULT:
            codings.append(_coding(codes.SNOMED, codes.SNOMED_FOR_RESULT[value], value))
        elif value == "low_positive":
            codings.append(_coding(codes.SNOMED, codes.SNOMED_FOR_RESULT["positive"], "positive"))
        codings.insert(0, _coding(codes.BOARD, str(value)))
        return {"valueCodeableConcept": _concept(*codings, text=str(value).replace("_", " "))}
    if name in ("er_percent", "pr_percent", "ki67_percent"):
        return {"valueQuantity": {"value": value, "unit": "%", "system": codes.UCUM, "code": "%"}}
    if name in ("closest_margin_mm", "tumor_size_mm"):
        return {"valueQuantity": {"value": value, "unit": "mm", "system": codes.UCUM, "code": "mm"}}
    if name in ("her2_ish_ratio", "her2_copy_number"):
        return {"valueQuantity": {"value": value}}
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    return {"valueCodeableConcept": _concept(_coding(codes.BOARD, str(value)), text=str(value))}


def _field_code(name: str) -> dict[str, Any]:
    if name in codes.LOINC_FOR_FIELD:
        loinc, display = codes.LOINC_FOR_FIELD[name]
        return _concept(_coding(codes.LOINC, loinc, display))
    return _concept(_coding(codes.BOARD, name, name.replace("_", " ")))


def _marker_resources(
    b: _Builder, case: CaseFacts, extras: Mapping[str, Any], patient: str, when: str
) -> list[str]:
    refs = []
    facts: dict[str, Any] = {
        k: v
        for k, v in case.diagnosis.items()
        if k not in ("histologic_type", "laterality", "sources", "nottingham")
    }
    for component, score in (case.diagnosis.get("nottingham") or {}).items():
        facts[f"nottingham_{component}"] = score
    for name in codes.BOARD_STAGE_FIELDS:
        if case.stage.get(name) is not None:
            facts[name] = case.stage[name]
    if extras.get("tumor_size_mm") is not None:
        facts["tumor_size_mm"] = extras["tumor_size_mm"]
    for name, value in facts.items():
        if value is None:
            continue
        profile = codes.PROFILE["tumor_size" if name == "tumor_size_mm" else "tumor_marker"]
        refs.append(
            b.add(
                f"field-{name}",
                _observation(
                    patient,
                    _field_code(name),
                    profile=profile,
                    effective=when,
                    **_value_for(name, value),
                ),
            )
        )
    return refs


def _plan_resources(b: _Builder, case: CaseFacts, patient: str) -> list[str]:
    refs = []
    for index, med in enumerate(case.plan.get("medications") or []):
        route = med.get("route")
        route_concept = (
            _concept(_coding(codes.SNOMED, codes.SNOMED_FOR_ROUTE[route], route), text=route)
            if route in codes.SNOMED_FOR_ROUTE
            else _concept(text=str(route))
        )
        if not route_concept["coding"]:
            del route_concept["coding"]
        refs.append(
            b.add(
                f"medication-{index}",
                {
                    "resourceType": "MedicationStatement",
                    "status": "active",
                    "medicationCodeableConcept": {"text": med["name"]},
                    "subject": {"reference": patient},
                    "dosage": [
                        {
                            "text": f"{med['dose']:g} {med['unit']} {route} {med['frequency']}",
                            "timing": {"code": {"text": med["frequency"]}},
                            "route": route_concept,
                            "doseAndRate": [
                                {
                                    "doseQuantity": {
                                        "value": med["dose"],
                                        "unit": med["unit"],
                                        "system": codes.UCUM,
                                        "code": codes.UCUM_FOR_UNIT[med["unit"]],
                                    }
                                }
                            ],
                        }
                    ],
                },
            )
        )
    activities = []
    for name in (
        "neoadjuvant",
        "surgery",
        "reconstruction",
        "chemotherapy",
        "radiation",
        "endocrine",
        "targeted",
    ):
        value = case.plan.get(name)
        if value is None:
            continue
        detail: dict[str, Any] = {
            "status": "not-started",
            "code": _concept(_coding(codes.BOARD, name, name), text=name),
        }
        if isinstance(value, bool):
            detail["doNotPerform"] = not value
        else:
            detail["description"] = str(value)
        activities.append({"detail": detail})
    if activities:
        refs.append(
            b.add(
                "care-plan",
                {
                    "resourceType": "CarePlan",
                    "status": "active",
                    "intent": "plan",
                    "title": "The referrer's plan (original opinion)",
                    "subject": {"reference": patient},
                    "activity": activities,
                },
            )
        )
    return refs


def _history_resources(
    b: _Builder, history: Sequence[Mapping[str, Any]], patient: str
) -> list[str]:
    refs = []
    for index, item in enumerate(history):
        code: dict[str, Any] = {"text": item.get("name", "procedure")}
        if item.get("code") and "|" in str(item["code"]):
            system, value = str(item["code"]).split("|", 1)
            code["coding"] = [{"system": system, "code": value}]
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "status": item.get("status") or "completed",
            "code": code,
            "subject": {"reference": patient},
        }
        if item.get("kind") == "surgery":
            resource["meta"] = {"profile": [codes.PROFILE["surgical_procedure"]]}
            resource["category"] = _concept(
                _coding(codes.SNOMED, "387713003", "Surgical procedure")
            )
        elif item.get("kind") == "radiotherapy":
            resource["meta"] = {"profile": [codes.PROFILE["radiotherapy"]]}
        if item.get("date"):
            resource["performedDateTime"] = item["date"]
        if item.get("body_site"):
            resource["bodySite"] = [{"text": item["body_site"]}]
        refs.append(b.add(f"procedure-{index}", resource))
    return refs


# --- The second opinion -----------------------------------------------------------------

_TASK_STATUS = {
    "offered": "requested",
    "accepted": "accepted",
    "completed": "completed",
    "declined": "rejected",
    "reassigned": "cancelled",
}


def _task_history(a: AssignmentFacts) -> list[tuple[str, dt.datetime]]:
    steps: list[tuple[str, dt.datetime]] = [("requested", a.created_at)]
    if a.status in ("accepted", "completed") and a.responded_at:
        steps.append(("accepted", a.responded_at))
    if a.status == "declined" and a.responded_at:
        steps.append(("rejected", a.responded_at))
    if a.status == "completed" and a.completed_at:
        steps.append(("completed", a.completed_at))
    if a.status == "reassigned":
        steps.append(("cancelled", a.responded_at or a.due_at))
    return steps


def _verdict_observation(
    patient: str, review: ReviewFacts, verdict: VerdictFacts
) -> dict[str, Any]:
    components = [
        {
            "code": _concept(_coding(codes.BOARD, "review-dimension", "dimension")),
            "valueCodeableConcept": _concept(
                _coding(codes.BOARD, verdict.dimension), text=verdict.dimension
            ),
        }
    ]
    if verdict.severity:
        components.append(
            {
                "code": _concept(_coding(codes.BOARD, "review-severity", "severity")),
                "valueCodeableConcept": _concept(
                    _coding(codes.BOARD, verdict.severity), text=verdict.severity
                ),
            }
        )
    out = _observation(
        patient,
        _concept(
            _coding(codes.BOARD, "review-verdict", "Second opinion verdict"),
            text=f"Verdict on the {verdict.dimension}",
        ),
        category="exam",
        effective=_iso(review.signed_at),
        valueCodeableConcept=_concept(_coding(codes.BOARD, verdict.verdict), text=verdict.verdict),
        component=components,
        performer=[{"display": f"{review.reviewer} ({review.specialty})"}],
    )
    if verdict.rationale:
        out["note"] = [{"text": verdict.rationale}]
    return out


def build_document(data: ExportInput) -> dict[str, Any]:
    case = data.case
    b = _Builder(case.id)
    released = _iso(data.released_at) or ""
    # The Composition is the first entry of a document; it is filled in last.
    composition: dict[str, Any] = {"resourceType": "Composition"}
    composition_url = b.add("composition", composition)
    patient = _patient(b, case)
    condition = _condition(b, case, patient)
    submitted = _iso(data.submitted_at) or released
    facts = [condition]
    facts += _stage_resources(b, case, patient, submitted)
    facts += _marker_resources(b, case, data.extras, patient, submitted)
    facts += _plan_resources(b, case, patient)
    facts += _history_resources(b, data.history, patient)
    service_request = b.add(
        "service-request",
        {
            "resourceType": "ServiceRequest",
            "status": "completed",
            "intent": "order",
            "category": [
                _concept(_coding(codes.BOARD, case.timepoint, case.timepoint.replace("_", " ")))
            ],
            "code": _concept(
                _coding(codes.BOARD, "second-opinion", "Tumor board second opinion"),
                text="Second opinion (breast tumor board)",
            ),
            "subject": {"reference": patient},
            "authoredOn": submitted,
            "note": [{"text": case.question}],
        },
    )
    tasks = []
    for a in data.assignments:
        history = []
        for step, (status, moment) in enumerate(_task_history(a)):
            history.append(
                {
                    "reference": b.add(
                        f"provenance-{a.id}-{step}",
                        {
                            "resourceType": "Provenance",
                            "target": [{"reference": b.ref("Task", f"assignment-{a.id}")}],
                            "recorded": _iso(moment),
                            "occurredDateTime": _iso(moment),
                            "activity": _concept(
                                _coding("http://hl7.org/fhir/task-status", status), text=status
                            ),
                            "agent": [{"who": {"display": a.reviewer}}],
                        },
                    )
                }
            )
        task: dict[str, Any] = {
            "resourceType": "Task",
            "status": _TASK_STATUS.get(a.status, "requested"),
            "intent": "order",
            "code": _concept(text=f"Review by {a.specialty.replace('_', ' ')} ({a.purpose})"),
            "basedOn": [{"reference": service_request}],
            "for": {"reference": patient},
            "authoredOn": _iso(a.created_at),
            "lastModified": _iso(a.completed_at or a.responded_at or a.created_at),
            "owner": {"display": a.reviewer},
            "restriction": {"period": {"end": _iso(a.due_at)}},
            "relevantHistory": history,
        }
        if a.decline_reason:
            task["statusReason"] = {"text": a.decline_reason}
        tasks.append(b.add(f"assignment-{a.id}", task))
    review_sections = []
    for review in data.reviews:
        verdicts = [
            b.add(f"verdict-{review.id}-{v.dimension}", _verdict_observation(patient, review, v))
            for v in review.verdicts
        ]
        lines = [
            f"{v.dimension}: {v.verdict}"
            + (f" ({v.severity})" if v.severity else "")
            + (f". {v.rationale}" if v.rationale else "")
            for v in review.verdicts
        ]
        if review.additional_options:
            lines.append(f"Additional options: {review.additional_options}")
        review_sections.append(
            {
                "title": f"Review by {review.reviewer} ({review.specialty.replace('_', ' ')})",
                "text": _narrative(*lines),
                "entry": [{"reference": r} for r in verdicts],
            }
        )
    computed = []
    checked = check_stage(case.stage, case.diagnosis)
    for group in checked.computed:
        if group.stage is None:
            continue
        computed.append(
            b.add(
                f"computed-{group.kind}",
                _stage_group(
                    patient,
                    group.kind,
                    group.stage,
                    released,
                    computed=True,
                    note=f"{group.categories}: {group.explanation}",
                ),
            )
        )
    report = b.add(
        "report",
        {
            "resourceType": "DocumentReference",
            "status": "current",
            "type": _concept(_coding(codes.LOINC, *codes.CONSULT_NOTE)),
            "subject": {"reference": patient},
            "date": released,
            "description": "The tumor board's second opinion (PDF)",
            "content": [
                {
                    "attachment": {
                        "contentType": "application/pdf",
                        "data": base64.b64encode(data.report_pdf).decode("ascii"),
                        "title": f"second-opinion-case-{case.id}.pdf",
                        "creation": released,
                    }
                }
            ],
        },
    )
    consensus = data.consensus
    composition.update(
        {
            "status": "final",
            "type": _concept(_coding(codes.LOINC, *codes.CONSULT_NOTE)),
            "subject": {"reference": patient},
            "date": released,
            "author": [{"display": "Breast tumor board"}],
            "title": f"Second opinion on case #{case.id}",
            "section": [
                {
                    "title": "Question",
                    "text": _narrative(case.question),
                    "entry": [{"reference": service_request}, *({"reference": t} for t in tasks)],
                },
                {
                    "title": "Case as referred",
                    "text": _narrative("The structured case the referrer sent."),
                    "entry": [{"reference": r} for r in facts],
                },
                *review_sections,
                {
                    "title": "Consensus",
                    "text": _narrative(
                        f"Consensus version {consensus.version}: {consensus.summary}",
                        consensus.recommendations or "",
                    ),
                    "entry": [{"reference": report}],
                },
                {
                    "title": "Stage groups computed by the board (AJCC 8th)",
                    "text": _narrative(
                        *(f.message for f in checked.flags),
                        *checked.notes,
                    ),
                    **({"entry": [{"reference": r} for r in computed]} if computed else {}),
                },
            ],
        }
    )
    del composition_url
    return {
        "resourceType": "Bundle",
        "identifier": {
            "system": "urn:ietf:rfc:3986",
            "value": f"urn:uuid:{uuid.uuid5(_NS, f'case-{case.id}-document-{consensus.version}')}",
        },
        "type": "document",
        "timestamp": released,
        "entry": b.entries,
    }


def profile_problems(document: Mapping[str, Any]) -> list[Issue]:
    """The mCODE profile rules (shared with the import) and the document rules FHIR states
    in prose: a Composition first, every entry with a fullUrl, stage observations with
    their AJCC method."""
    issues = profile_issues(dict(document))
    entries = document.get("entry") or []
    if not entries or entries[0]["resource"]["resourceType"] != "Composition":
        issues.append(Issue("Bundle.entry[0]", "a document starts with its Composition"))
    for index, entry in enumerate(entries):
        if not entry.get("fullUrl"):
            issues.append(Issue(f"Bundle.entry[{index}].fullUrl", "is required in a document"))
        resource = entry["resource"]
        profiles = (resource.get("meta") or {}).get("profile") or []
        if codes.PROFILE["tnm_stage_group"] in profiles and not resource.get("method"):
            issues.append(
                Issue(f"Bundle.entry[{index}].resource.method", "names the staging system")
            )
    return issues
