"""An mCODE referral Bundle mapped to the structured case. Pure: no Flask, SQLAlchemy or
Celery; takes the validated bundle as JSON and returns a frozen Referral with the
case body, the history, the attachments and the warnings, each with its reason.

What the bundle says is imported as given. What contradicts itself or the AJCC tables
(a condition's stage summary against its stage group observation, a T category against
the tumour size, a submitted stage group against the one the board computes) becomes a
warning; what cannot be read (an unknown code in a value set the board maps) is refused
with the path of the element.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from board.cases.stage_check import check_stage
from board.fhir import codes
from board.fhir.outcome import FhirRefused, Issue
from board.fhir.validation import observation_role

NO_QUESTION = "Second opinion requested by HL7 FHIR referral; the question was not stated."


@dataclass(frozen=True)
class ImportWarning:
    code: str
    message: str
    path: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


@dataclass(frozen=True)
class Attachment:
    kind: str
    filename: str
    data: bytes
    path: str


@dataclass(frozen=True)
class Referral:
    case: dict[str, Any]  # a CaseInput body
    paths: dict[str, str]  # case field ("diagnosis.er") -> where in the bundle it came from
    history: tuple[dict[str, Any], ...]
    extras: dict[str, Any]
    attachments: tuple[Attachment, ...]
    warnings: tuple[ImportWarning, ...]
    bundle_type: str
    bundle_identifier: str | None


@dataclass
class _State:
    patient: dict[str, Any] = field(default_factory=dict)
    diagnosis: dict[str, Any] = field(default_factory=dict)
    stage: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)
    medications: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    question: str | None = None
    timepoint: str | None = None
    summaries: list[tuple[str | None, str, str]] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    warnings: list[ImportWarning] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)

    def put(self, part: str, name: str, value: Any, path: str) -> None:
        target: dict[str, Any] = getattr(self, part)
        if name in target and target[name] != value:
            self.warn(
                "conflicting_values",
                f"{part}.{name} is given twice with different values ({target[name]} and "
                f"{value}); the later one, {value}, is imported",
                path,
            )
        target[name] = value
        self.paths[f"{part}.{name}"] = path

    def warn(self, code: str, message: str, path: str) -> None:
        self.warnings.append(ImportWarning(code, message, path))

    def refuse(self, path: str, message: str, code: str = "code-invalid") -> None:
        self.issues.append(Issue(path, message, code))


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _pairs(concept: Any) -> list[tuple[str, str]]:
    return [(str(c.get("system", "")), str(c.get("code", ""))) for c in _codings(concept)]


def _text(concept: Any) -> str | None:
    if not isinstance(concept, dict):
        return None
    if concept.get("text"):
        return str(concept["text"])
    for coding in _codings(concept):
        if coding.get("display"):
            return str(coding["display"])
    return None


def _allowed(values: Mapping[str, str]) -> str:
    return ", ".join(sorted(dict.fromkeys(values)))


# --- Patient -------------------------------------------------------------------------------


def _patient(state: _State, resource: dict[str, Any], where: str) -> None:
    names = resource.get("name") or []
    official = next((n for n in names if n.get("use") == "official"), names[0] if names else {})
    name = official.get("text") or " ".join(
        [*(official.get("given") or []), official.get("family") or ""]
    )
    state.patient["name"] = name.strip()
    state.patient["birth_date"] = resource.get("birthDate")
    identifiers = resource.get("identifier") or []
    mrn = next(
        (
            i
            for i in identifiers
            if any(c.get("code") == "MR" for c in _codings(i.get("type"))) and i.get("value")
        ),
        next((i for i in identifiers if i.get("value")), None),
    )
    state.patient["mrn"] = mrn.get("value") if mrn else None
    gender = resource.get("gender")
    state.patient["sex"] = gender if gender in ("female", "male", "other") else "unknown"
    for key, element in (
        ("name", "name"),
        ("birth_date", "birthDate"),
        ("mrn", "identifier"),
        ("sex", "gender"),
    ):
        state.paths[f"patient.{key}"] = f"{where}.{element}"


# --- PrimaryCancerCondition ----------------------------------------------------------------


def _condition(state: _State, resource: dict[str, Any], where: str) -> None:
    for index, ext in enumerate(resource.get("extension") or []):
        url = str(ext.get("url", ""))
        if url.endswith("histology-morphology-behavior"):
            path = f"{where}.extension[{index}].valueCodeableConcept"
            value = _histology(ext.get("valueCodeableConcept"))
            if value is None:
                state.refuse(
                    path,
                    "is not a breast histology the board knows; use an ICD-O-3 morphology ("
                    f"{_allowed(codes.HISTOLOGY_ICDO3)}) or its SNOMED CT code",
                )
            else:
                state.put("diagnosis", "histologic_type", value, path)
    for index, site in enumerate(resource.get("bodySite") or []):
        path = f"{where}.bodySite[{index}]"
        side = None
        for system, code in _pairs(site):
            if system == codes.SNOMED and code in codes.LATERALITY_SNOMED:
                side = codes.LATERALITY_SNOMED[code]
        for ext in site.get("extension") or []:
            if "laterality" in str(ext.get("url", "")):
                for system, code in _pairs(ext.get("valueCodeableConcept")):
                    if system == codes.SNOMED and code in codes.LATERALITY_SNOMED:
                        side = codes.LATERALITY_SNOMED[code]
        if side:
            state.put("diagnosis", "laterality", side, path)
    for index, stage in enumerate(resource.get("stage") or []):
        summary = stage.get("summary")
        if not summary:
            continue
        path = f"{where}.stage[{index}].summary"
        group = _stage_group_value(summary)
        if group is None:
            state.refuse(path, _STAGE_GROUP_HELP)
            continue
        basis = None
        for system, code in _pairs(stage.get("type")):
            if (system, code) in codes.STAGE_GROUP_CODES:
                basis = codes.STAGE_GROUP_CODES[(system, code)]
        state.summaries.append((basis, group, path))


def _histology(concept: Any) -> str | None:
    for system, code in _pairs(concept):
        if system == codes.ICDO3 and code in codes.HISTOLOGY_ICDO3:
            return codes.HISTOLOGY_ICDO3[code]
        if system == codes.SNOMED and code in codes.HISTOLOGY_SNOMED:
            return codes.HISTOLOGY_SNOMED[code]
        if system == codes.BOARD and code:
            return code
    return None


# --- Observations ----------------------------------------------------------------------------

_STAGE_GROUP_HELP = (
    "is not an AJCC 8th edition breast stage group; use http://cancerstaging.org codes 0, "
    "IA, IB, IIA, IIB, IIIA, IIIB, IIIC or IV (1A ... 3C are read too)"
)
_CATEGORY = re.compile(r"^(c|p|yc|yp)?(T|N|M)(.+)$")


def _stage_group_value(concept: Any) -> str | None:
    for system, code in _pairs(concept):
        if system in (codes.AJCC, codes.BOARD):
            form = code.strip().upper().removeprefix("STAGE ").strip()
            if form in codes.STAGE_GROUP_FORMS:
                return codes.STAGE_GROUP_FORMS[form]
    return None


def _category_value(concept: Any, basis: str, axis: str) -> str | None:
    prefix = "c" if basis == "clinical" else "p"
    for system, code in _pairs(concept):
        value = None
        if system == codes.SNOMED and code in codes.SNOMED_TNM:
            value = codes.SNOMED_TNM[code]
        elif system in (codes.AJCC, codes.BOARD):
            value = code.strip()
        if value is None:
            continue
        match = _CATEGORY.match(value)
        if not match or match.group(2).lower() != axis:
            return None
        given_prefix = match.group(1)
        if given_prefix is None:
            value = prefix + value
        elif axis == "m" and given_prefix == "c" and basis == "pathological":
            # AJCC: pathological staging uses cM0 unless metastasis is proven (pM1).
            pass
        return value
    return None


def _quantity(resource: dict[str, Any]) -> tuple[float | None, str | None]:
    quantity = resource.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None, None
    return float(quantity["value"]), str(quantity.get("code") or quantity.get("unit") or "")


_NUMBER_FIELDS = {
    "er_percent",
    "pr_percent",
    "her2_ish_ratio",
    "her2_copy_number",
    "ki67_percent",
    "closest_margin_mm",
}
_INT_FIELDS = {
    "nodes_positive",
    "nodes_examined",
    "recurrence_score",
    "nottingham_tubules",
    "nottingham_pleomorphism",
    "nottingham_mitoses",
    "grade",
}
_CHOICE_FIELDS = {
    "er_intensity": ("weak", "moderate", "strong"),
    "pr_intensity": ("weak", "moderate", "strong"),
    "margins": ("negative", "close", "positive"),
    "her2_ihc": ("0", "1+", "2+", "3+"),
}


def _field_value(state: _State, name: str, resource: dict[str, Any], where: str) -> Any:
    """The value of one tumor-marker style observation in the case's terms, or None
    after recording why it cannot be read."""
    if name in ("er", "pr", "her2"):
        concept = resource.get("valueCodeableConcept")
        path = f"{where}.valueCodeableConcept"
        # The board's own coding first: it says low positive, which SNOMED cannot.
        pairs = sorted(_pairs(concept), key=lambda p: p[0] != codes.BOARD)
        for _system, code in pairs:
            if code in codes.RECEPTOR_VALUES:
                value = codes.RECEPTOR_VALUES[code]
                if name != "her2" and value == "equivocal":
                    break
                if name == "her2" and value == "low_positive":
                    break
                return value
        allowed = "positive, negative" + (", equivocal" if name == "her2" else "")
        state.refuse(
            path,
            f"is not a {name.upper()} result the board knows; use SNOMED CT "
            f"({_allowed({k: v for k, v in codes.RECEPTOR_VALUES.items() if k.isdigit()})}) "
            f"or LOINC answers meaning {allowed}",
        )
        return None
    if name == "tumor_size_mm":
        size, unit = _quantity(resource)
        if size is None:
            state.refuse(f"{where}.valueQuantity", "is required: the tumour size with its unit")
            return None
        factor = {"mm": 1.0, "cm": 10.0}.get((unit or "").lower())
        if factor is None:
            state.refuse(f"{where}.valueQuantity.code", "must be mm or cm (UCUM)")
            return None
        return round(size * factor, 2)
    if name in _NUMBER_FIELDS or name in _INT_FIELDS:
        raw: Any
        if "valueInteger" in resource:
            raw = resource["valueInteger"]
        else:
            raw, _unit = _quantity(resource)
            if raw is None and name == "grade":
                raw = _grade_from_concept(resource.get("valueCodeableConcept"))
        if raw is None:
            state.refuse(f"{where}.value[x]", f"must give {name.replace('_', ' ')} as a number")
            return None
        if name in _INT_FIELDS:
            if float(raw) != int(float(raw)):
                state.refuse(f"{where}.value[x]", "must be a whole number")
                return None
            return int(float(raw))
        return float(raw)
    if name == "lymphovascular_invasion":
        if isinstance(resource.get("valueBoolean"), bool):
            return resource["valueBoolean"]
        found = codes.RECEPTOR_VALUES.get(
            next(iter(c for _, c in _pairs(resource.get("valueCodeableConcept"))), "")
        )
        if found in ("positive", "negative"):
            return found == "positive"
        state.refuse(f"{where}.value[x]", "must be true or false (present or absent)")
        return None
    choices = _CHOICE_FIELDS.get(name)
    if choices is not None:
        concept = resource.get("valueCodeableConcept")
        candidates = [c for _, c in _pairs(concept)] + [str(_text(concept) or "")]
        if name == "her2_ihc":
            candidates = [c.replace("Score ", "").strip() for c in candidates]
        for candidate in candidates:
            if candidate.lower() in choices:
                return candidate.lower()
        state.refuse(f"{where}.valueCodeableConcept", f"must be one of {', '.join(choices)}")
        return None
    return None


def _grade_from_concept(concept: Any) -> int | None:
    for candidate in [c for _, c in _pairs(concept)] + [str(_text(concept) or "")]:
        match = re.fullmatch(r"(?i)\s*(?:g|grade\s*)?([123])\s*", candidate)
        if match:
            return int(match.group(1))
    return None


def _observation(state: _State, resource: dict[str, Any], where: str) -> None:
    tags = (resource.get("meta") or {}).get("tag") or []
    if any(t.get("code") == codes.BOARD_COMPUTED_TAG for t in tags if isinstance(t, dict)):
        return  # the board's own derivations (stage groups, verdicts): not submitted facts
    pairs = _pairs(resource.get("code"))
    if any(system == codes.BOARD and code.startswith("review-") for system, code in pairs):
        return
    role = observation_role(resource)
    value_path = f"{where}.valueCodeableConcept"
    if role == "tnm_category":
        basis, axis = next(codes.TNM_CODES[p] for p in pairs if p in codes.TNM_CODES)
        value = _category_value(resource.get("valueCodeableConcept"), basis, axis)
        if value is None:
            state.refuse(
                value_path,
                f"is not an AJCC 8th edition {axis.upper()} category the board knows; use "
                f"http://cancerstaging.org codes such as c{axis.upper()}1 or the SNOMED CT "
                "codes of the mCODE TNM value sets",
            )
            return
        # The board's own export marks t/n/m kept as submitted apart from clinical_*.
        plain = any(system == codes.BOARD and code == axis for system, code in pairs)
        state.put("stage", axis if plain else f"{basis}_{axis}", value, value_path)
        _method(state, resource, where)
    elif role == "stage_group":
        kind = next(codes.STAGE_GROUP_CODES[p] for p in pairs if p in codes.STAGE_GROUP_CODES)
        group = _stage_group_value(resource.get("valueCodeableConcept"))
        if group is None:
            state.refuse(value_path, _STAGE_GROUP_HELP)
            return
        state.put("stage", kind, group, value_path)
        _method(state, resource, where)
    elif role == "tumor_marker":
        part, name = next(codes.FIELD_CODES[p] for p in pairs if p in codes.FIELD_CODES)
        value = _field_value(state, name, resource, where)
        if value is None:
            return
        if name.startswith("nottingham_"):
            components = state.diagnosis.setdefault("nottingham", {})
            components[name.removeprefix("nottingham_")] = value
            state.paths["diagnosis.nottingham"] = where
            return
        state.put(part, name, value, f"{where}.value[x]")
    else:
        state.warn(
            "not_mapped",
            f"Observation {_text(resource.get('code')) or pairs} is not a fact of the "
            "structured case; it was not imported",
            f"{where}.code",
        )


def _method(state: _State, resource: dict[str, Any], where: str) -> None:
    method = resource.get("method")
    if not method:
        return
    text = (_text(method) or "").lower()
    if any(code == codes.AJCC_8TH[0] for _, code in _pairs(method)) or "8th" in text:
        return
    state.warn(
        "staging_method",
        f"The staging method is {_text(method) or _pairs(method)}, not AJCC 8th edition; "
        "the board stages by AJCC 8th, so the categories may not mean the same",
        f"{where}.method",
    )


# --- Medications ------------------------------------------------------------------------------


def _medication(state: _State, resource: dict[str, Any], where: str) -> None:
    kind = resource["resourceType"]
    name = _text(resource.get("medicationCodeableConcept")) or (
        (resource.get("medicationReference") or {}).get("display")
    )
    if kind == "MedicationRequest":
        dosages, dosage_key = resource.get("dosageInstruction") or [], "dosageInstruction[0]"
    elif kind == "MedicationStatement":
        dosages, dosage_key = resource.get("dosage") or [], "dosage[0]"
    else:
        dosage = resource.get("dosage")
        dosages, dosage_key = ([dosage] if dosage else []), "dosage"
    if not name:
        state.refuse(f"{where}.medication[x]", "must name the drug (text or display)", "required")
        return
    dosage = dosages[0] if dosages else {}
    dpath = f"{where}.{dosage_key}"
    if kind == "MedicationAdministration":
        quantity = dosage.get("dose") or {}
        qpath = f"{dpath}.dose"
    else:
        rates = dosage.get("doseAndRate") or [{}]
        quantity = rates[0].get("doseQuantity") or {}
        qpath = f"{dpath}.doseAndRate[0].doseQuantity"
    if quantity.get("value") is None:
        state.warn(
            "medication_without_dose",
            f"{name} has no dose; the medication list holds each drug with its dose, so it "
            "was not imported",
            qpath,
        )
        return
    unit_text = str(quantity.get("code") or quantity.get("unit") or "").strip()
    unit = codes.UNIT_FORMS.get(unit_text.lower()) or codes.UNIT_FORMS.get(unit_text)
    if unit is None:
        state.refuse(
            f"{qpath}.code",
            f"{unit_text!r} is not a dose unit the board knows; use "
            f"{', '.join(sorted(set(codes.UCUM_FOR_UNIT.values())))} (UCUM)",
        )
        return
    route = "other"
    route_concept = dosage.get("route")
    if route_concept:
        route = next(
            (codes.ROUTE_SNOMED[c] for s, c in _pairs(route_concept) if c in codes.ROUTE_SNOMED),
            "",
        ) or next(
            (
                r
                for r in ("oral", "intravenous", "subcutaneous", "intramuscular", "topical")
                if r in (_text(route_concept) or "").lower()
            ),
            "other",
        )
    frequency = _frequency(dosage) or (
        "once" if kind == "MedicationAdministration" else "as directed"
    )
    state.medications.append(
        {
            "name": name,
            "dose": float(quantity["value"]),
            "unit": unit,
            "route": route,
            "frequency": frequency,
        }
    )
    state.paths[f"plan.medications.{len(state.medications) - 1}"] = where


def _frequency(dosage: dict[str, Any]) -> str | None:
    timing = dosage.get("timing") or {}
    if _text(timing.get("code")):
        return _text(timing.get("code"))
    repeat = timing.get("repeat") or {}
    if repeat.get("frequency") and repeat.get("period") and repeat.get("periodUnit"):
        units = {"d": "day", "wk": "week", "mo": "month", "h": "hour", "a": "year"}
        unit = units.get(repeat["periodUnit"], repeat["periodUnit"])
        period = repeat["period"]
        every = f"every {unit}" if float(period) == 1 else f"every {float(period):g} {unit}s"
        times = int(repeat["frequency"])
        text = every if times == 1 else f"{times} times {every}"
        if repeat.get("count"):
            text += f" x {int(repeat['count'])}"
        return text
    if dosage.get("text"):
        return str(dosage["text"])
    return None


# --- Procedures, CarePlan, ServiceRequest, records ---------------------------------------------


def _procedure(state: _State, resource: dict[str, Any], where: str) -> None:
    profiles = " ".join((resource.get("meta") or {}).get("profile") or [])
    pairs = _pairs(resource.get("code")) + _pairs(resource.get("category"))
    kind = "other"
    if "radiotherapy" in profiles or any(c in codes.RADIOTHERAPY_CODES for _, c in pairs):
        kind = "radiotherapy"
    elif (
        "surgical" in profiles
        or any(c in codes.SURGERY_CODES for _, c in pairs)
        or any(
            w in (_text(resource.get("code")) or "").lower()
            for w in ("ectomy", "excision", "biopsy", "surgery")
        )
    ):
        kind = "surgery"
    elif "radi" in (_text(resource.get("code")) or "").lower():
        kind = "radiotherapy"
    code = next(
        (f"{c.get('system')}|{c.get('code')}" for c in _codings(resource.get("code"))), None
    )
    performed = resource.get("performedDateTime") or (resource.get("performedPeriod") or {}).get(
        "start"
    )
    sites = [s for site in resource.get("bodySite") or [] if (s := _text(site))]
    entry = {
        "kind": kind,
        "name": _text(resource.get("code")) or "procedure",
        "code": code,
        "status": resource.get("status"),
        "date": performed,
        "body_site": sites[0] if sites else None,
    }
    if kind == "other":
        state.warn(
            "procedure_kind",
            f"{entry['name']} is neither a surgical nor a radiotherapy procedure by its code; "
            "it is kept in the history as other",
            f"{where}.code",
        )
    state.history.append({k: v for k, v in entry.items() if v is not None})


def _care_plan(state: _State, resource: dict[str, Any], where: str) -> None:
    for index, activity in enumerate(resource.get("activity") or []):
        detail = activity.get("detail") or {}
        path = f"{where}.activity[{index}].detail"
        for system, code in _pairs(detail.get("code")):
            if system != codes.BOARD:
                continue
            text = detail.get("description")
            if code in ("neoadjuvant", "reconstruction", "radiation"):
                state.put("plan", code, not detail.get("doNotPerform", False), path)
            elif code in ("surgery", "chemotherapy", "endocrine", "targeted") and text:
                state.put("plan", code, str(text), path)


def _service_request(state: _State, resource: dict[str, Any], where: str) -> None:
    notes = [n.get("text") for n in resource.get("note") or [] if n.get("text")]
    reasons = [t for r in resource.get("reasonCode") or [] if (t := _text(r))]
    question = "\n".join(notes or reasons)
    if question:
        state.question = question
        state.paths["question"] = f"{where}.note"
    for concept in resource.get("category") or []:
        for system, code in _pairs(concept):
            if system == codes.BOARD and code in (
                "post_biopsy",
                "pre_surgery",
                "post_surgery",
                "during_treatment",
            ):
                state.timepoint = code


def _record_kind(resource: dict[str, Any]) -> str | None:
    concepts = [resource.get("code"), resource.get("type"), *(resource.get("category") or [])]
    for concept in concepts:
        for system, code in _pairs(concept):
            if system == codes.BOARD and code in set(codes.RECORD_CODES.values()):
                return code
            if code in codes.RECORD_CODES:
                return codes.RECORD_CODES[code]
            if code in codes.RECORD_CATEGORIES:
                return codes.RECORD_CATEGORIES[code]
    return None


def _is_consult_note(resource: dict[str, Any]) -> bool:
    return any(code == codes.CONSULT_NOTE[0] for _, code in _pairs(resource.get("type")))


def _report(state: _State, resource: dict[str, Any], where: str) -> None:
    kind_of = resource["resourceType"]
    if kind_of == "DocumentReference":
        attachments = [
            (c.get("attachment") or {}, f"{where}.content[{i}].attachment")
            for i, c in enumerate(resource.get("content") or [])
        ]
    else:
        attachments = [
            (a, f"{where}.presentedForm[{i}]")
            for i, a in enumerate(resource.get("presentedForm") or [])
        ]
    if kind_of == "DocumentReference" and _is_consult_note(resource):
        state.warn(
            "consult_note",
            "A consult note (e.g. an earlier second opinion) is not a record kind of a case; "
            "it was not imported",
            f"{where}.type",
        )
        return
    if not attachments:
        return
    kind = _record_kind(resource)
    if kind is None:
        state.refuse(
            f"{where}.{'type' if kind_of == 'DocumentReference' else 'code'}",
            "does not say which kind of record this is; use a LOINC document code ("
            f"{_allowed(codes.RECORD_CODES)})",
        )
        return
    for attachment, path in attachments:
        if not attachment.get("data"):
            state.warn(
                "attachment_not_included",
                "The attachment is referenced by URL only; the board imports documents sent "
                "inside the bundle, so upload this one by hand",
                path,
            )
            continue
        try:
            data = base64.b64decode(attachment["data"], validate=True)
        except (binascii.Error, ValueError):
            state.refuse(f"{path}.data", "is not valid base64", "value")
            continue
        title = str(attachment.get("title") or f"{kind}.pdf")
        state.attachments.append(Attachment(kind, title, data, path))


# --- Consistency ----------------------------------------------------------------------------------

# AJCC 8th breast T by the greatest dimension of the invasive tumour, in mm.
_T_SIZE: dict[str, tuple[float, float]] = {
    "T1mi": (0.0, 1.0),
    "T1a": (1.0, 5.0),
    "T1b": (5.0, 10.0),
    "T1c": (10.0, 20.0),
    "T1": (0.0, 20.0),
    "T2": (20.0, 50.0),
    "T3": (50.0, 10_000.0),
}


def t_fits_size(t: str, size_mm: float) -> bool | None:
    """Whether the T category fits the size; None where T does not depend on size (Tis, T0,
    TX, T4: extension to chest wall or skin, at any size)."""
    match = _CATEGORY.match(t)
    if not match:
        return None
    category = "T" + match.group(3)
    if category not in _T_SIZE:
        return None
    low, high = _T_SIZE[category]
    lower_ok = size_mm > low or (category in ("T1mi", "T1") and size_mm > 0)
    return lower_ok and size_mm <= high


def _consistency(state: _State) -> None:
    size = state.extras.get("tumor_size_mm")
    if size is not None:
        for name in ("t", "clinical_t", "pathological_t"):
            t = state.stage.get(name)
            if t and t_fits_size(t, size) is False:
                state.warn(
                    "t_category_size",
                    f"The T category {t} does not fit the tumour size of {size:g} mm "
                    "(AJCC 8th: T1mi ≤1 mm, T1a >1-5 mm, T1b >5-10 mm, T1c >10-20 mm, "
                    "T2 >20-50 mm, T3 >50 mm)",
                    state.paths.get(f"stage.{name}", "Bundle"),
                )
    for summary_basis, group, path in state.summaries:
        kinds = (
            [summary_basis]
            if summary_basis
            else ["clinical_prognostic", "pathological_prognostic", "anatomic"]
        )
        observed = [(k, state.stage[k]) for k in kinds if k in state.stage]
        if not observed:
            state.put("stage", summary_basis or "clinical_prognostic", group, path)
            continue
        for kind, value in observed:
            if value != group:
                state.warn(
                    "stage_summary_differs",
                    f"The condition's stage summary is {group} but the stage group "
                    f"observation says {value} ({kind.replace('_', ' ')}); the observation's "
                    "value is imported",
                    path,
                )
    checked = check_stage(state.stage, state.diagnosis)
    for flag in checked.flags:
        state.warn(
            "stage_group_differs", flag.message, state.paths.get(f"stage.{flag.kind}", "Bundle")
        )


def _timepoint(state: _State) -> str:
    if state.timepoint:
        return state.timepoint
    if any(h["kind"] == "surgery" for h in state.history) or any(
        k.startswith("pathological_") for k in state.stage
    ):
        guess = "post_surgery"
    else:
        guess = "post_biopsy"
    state.warn(
        "timepoint_inferred",
        f"The bundle does not say the timepoint; {guess.replace('_', ' ')} was inferred from "
        + (
            "the surgery in the history or the pathological stage"
            if guess == "post_surgery"
            else "the absence of surgery"
        )
        + "; change it on the draft if it is wrong",
        "Bundle",
    )
    return guess


_HANDLERS = {
    "Patient": _patient,
    "Condition": _condition,
    "Observation": _observation,
    "MedicationRequest": _medication,
    "MedicationAdministration": _medication,
    "MedicationStatement": _medication,
    "Procedure": _procedure,
    "CarePlan": _care_plan,
    "ServiceRequest": _service_request,
    "DiagnosticReport": _report,
    "DocumentReference": _report,
}
# What the board's own export carries around the clinical facts: read silently past.
_IGNORED = {"Composition", "Task", "Provenance", "Practitioner", "Organization", "Coverage"}


def map_bundle(bundle: dict[str, Any]) -> Referral:
    """The referral in the case's terms; raises FhirRefused naming every unreadable element."""
    state = _State()
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") or {}
        where = f"Bundle.entry[{index}].resource"
        kind = str(resource.get("resourceType"))
        handler = _HANDLERS.get(kind)
        if handler is not None:
            if kind == "Condition" and not _is_primary_cancer(resource):
                state.warn(
                    "not_mapped",
                    "A condition that is not the primary breast cancer was not imported",
                    where,
                )
                continue
            handler(state, resource, where)
        elif kind not in _IGNORED:
            state.warn("not_mapped", f"{kind} is not part of a referral; not imported", where)
    if state.issues:
        raise FhirRefused(state.issues)
    _consistency(state)
    timepoint = _timepoint(state)
    if not state.question:
        state.warn(
            "question_missing",
            "No ServiceRequest note states the question for the board; a placeholder was set, "
            "write the question on the draft before submitting",
            "Bundle",
        )
    plan = dict(state.plan)
    if state.medications:
        plan["medications"] = state.medications
    case = {
        "patient": state.patient,
        "timepoint": timepoint,
        "question": state.question or NO_QUESTION,
        "diagnosis": state.diagnosis,
        "stage": state.stage,
        "plan": plan,
    }
    identifier = (bundle.get("identifier") or {}).get("value")
    return Referral(
        case=case,
        paths=state.paths,
        history=tuple(state.history),
        extras=state.extras,
        attachments=tuple(state.attachments),
        warnings=tuple(dict.fromkeys(state.warnings)),
        bundle_type=str(bundle.get("type")),
        bundle_identifier=str(identifier) if identifier else None,
    )


def _is_primary_cancer(resource: dict[str, Any]) -> bool:
    profiles = " ".join((resource.get("meta") or {}).get("profile") or [])
    if "primary-cancer-condition" in profiles:
        return True
    text = (_text(resource.get("code")) or "").lower()
    pairs = _pairs(resource.get("code"))
    return (
        "breast" in text
        or "carcinoma" in text
        or any(system.endswith("icd-10-cm") and code.startswith("C50") for system, code in pairs)
        or any(
            e.get("url", "").endswith("histology-morphology-behavior")
            for e in resource.get("extension") or []
        )
    )
