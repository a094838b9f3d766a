"""Reading a FHIR R4 Bundle safely and validating it with fhir.resources.

The structure, cardinalities and datatypes of every resource are checked by the
maintained `fhir.resources` models (FHIR R4B, 4.3.0: the package's closest release to
R4 that runs on pydantic 2; R4B changed no resource the board reads). The mCODE
profiles' required elements the base resources leave optional are checked in
`profile_issues`. Pure: no Flask, SQLAlchemy or Celery.
"""

from __future__ import annotations

import json
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from board.fhir import codes
from board.fhir.outcome import FhirRefused, Issue, fhir_path

FHIR_VERSION = "4.0.1"
FHIR_LIBRARY = "fhir.resources R4B"
# A referral carries a few reports; anything deeper than this is not a FHIR resource
# anyone meant to send (and would let a crafted message exhaust the parser's stack).
MAX_DEPTH = 40
ACCEPTED_TYPES = ("collection", "transaction", "document")


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def load_json(raw: bytes) -> dict[str, Any]:
    """The bundle as JSON, refusing what is not JSON, not an object or nested too deep."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise FhirRefused(
            [Issue("Bundle", f"is nested deeper than {MAX_DEPTH} levels", "too-costly")]
        ) from None
    except (ValueError, UnicodeDecodeError):
        raise FhirRefused(
            [Issue("Bundle", "is not valid JSON; send a FHIR R4 Bundle as JSON", "structure")]
        ) from None
    if not isinstance(data, dict):
        raise FhirRefused([Issue("Bundle", "must be a JSON object (a FHIR resource)", "structure")])
    if _depth_exceeds(data, MAX_DEPTH):
        raise FhirRefused(
            [Issue("Bundle", f"is nested deeper than {MAX_DEPTH} levels", "too-costly")]
        )
    return data


def _message(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    if error["type"] == "extra_forbidden":
        return "is not an element of this resource in FHIR R4"
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


def validate_bundle(data: dict[str, Any]) -> Bundle:
    """The bundle checked against the FHIR models; every problem names its path."""
    kind = data.get("resourceType")
    if kind != "Bundle":
        raise FhirRefused(
            [Issue("Bundle.resourceType", f"must be Bundle, not {kind!r}", "structure")]
        )
    if data.get("type") not in ACCEPTED_TYPES:
        raise FhirRefused(
            [
                Issue(
                    "Bundle.type",
                    f"must be collection or transaction (or document), not {data.get('type')!r}",
                    "value",
                )
            ]
        )
    unknown = [
        Issue(
            f"Bundle.entry[{index}].resource.resourceType",
            f"{entry['resource'].get('resourceType')!r} is not a FHIR R4 resource type",
            "structure",
        )
        for index, entry in enumerate(data.get("entry") or [])
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and not _known_type(entry["resource"].get("resourceType"))
    ]
    if unknown:
        raise FhirRefused(unknown)
    try:
        return Bundle.model_validate(data)
    except (KeyError, TypeError) as exc:
        # The library's own lookup of a type it does not know (e.g. in a contained resource).
        raise FhirRefused(
            [Issue("Bundle", f"cannot be read as FHIR R4: unknown element {exc}", "structure")]
        ) from None
    except ValidationError as exc:
        issues = []
        for error in exc.errors():
            loc = [p for p in error["loc"] if p not in ("function-after[validate()]",)]
            code = "required" if error["type"] == "missing" else "structure"
            issues.append(Issue(fhir_path(loc), _message(error), code))
        raise FhirRefused(_dedupe(issues)) from None


def _known_type(name: Any) -> bool:
    if not isinstance(name, str) or not name.isalpha():
        return False
    try:
        get_fhir_model_class(name)
    except (ValueError, KeyError):
        return False
    return True


def _dedupe(issues: list[Issue]) -> list[Issue]:
    return list(dict.fromkeys(issues))


# --- mCODE profile constraints the base resources leave optional ----------------------------


def _codings(concept: Any) -> list[tuple[str, str]]:
    if not isinstance(concept, dict):
        return []
    return [
        (str(c.get("system", "")), str(c.get("code", "")))
        for c in concept.get("coding", [])
        if isinstance(c, dict)
    ]


def observation_role(resource: dict[str, Any]) -> str | None:
    """Which mCODE profile an Observation answers to, from its code."""
    for coding in _codings(resource.get("code")):
        if coding in codes.TNM_CODES:
            return "tnm_category"
        if coding in codes.STAGE_GROUP_CODES:
            return "stage_group"
        if coding in codes.FIELD_CODES:
            return "tumor_marker"
    return None


# Required elements per profile (mCODE STU3; US Core for the patient).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "Patient": ("identifier", "name", "gender", "birthDate"),
    "Condition": ("code", "subject"),
    "tnm_category": ("status", "code", "subject", "valueCodeableConcept"),
    "stage_group": ("status", "code", "subject", "valueCodeableConcept"),
    "tumor_marker": ("status", "code", "subject"),
    "Procedure": ("status", "code", "subject"),
    "MedicationRequest": ("status", "intent", "subject"),
    "MedicationAdministration": ("status", "subject"),
    "MedicationStatement": ("status", "subject"),
    "DiagnosticReport": ("status", "code", "subject"),
    "DocumentReference": ("status", "type", "subject", "content"),
}

_VALUE_KEYS = (
    "valueQuantity",
    "valueCodeableConcept",
    "valueInteger",
    "valueString",
    "valueBoolean",
    "valueRatio",
)


def profile_issues(data: dict[str, Any]) -> list[Issue]:
    """The elements mCODE (and US Core for the patient) require and FHIR itself does not."""
    issues: list[Issue] = []
    patients = 0
    for index, entry in enumerate(data.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        where = f"Bundle.entry[{index}].resource"
        kind = resource.get("resourceType", "")
        if kind == "Patient":
            patients += 1
        key = kind
        if kind == "Observation":
            if _is_board_output(resource):
                continue
            key = observation_role(resource) or ""
        for element in _REQUIRED.get(key, ()):
            if resource.get(element) in (None, [], "", {}):
                issues.append(
                    Issue(f"{where}.{element}", f"is required by the {_label(key)}", "required")
                )
        if key == "tumor_marker" and not any(k in resource for k in _VALUE_KEYS):
            issues.append(
                Issue(f"{where}.value[x]", "is required by the mCODE TumorMarkerTest", "required")
            )
    if patients != 1:
        issues.append(
            Issue(
                "Bundle.entry",
                f"must hold exactly one Patient (a referral is one patient); it holds {patients}",
                "required",
            )
        )
    return issues


def _is_board_output(resource: dict[str, Any]) -> bool:
    """The board's computed stage groups and review verdicts (its own export)."""
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(isinstance(t, dict) and t.get("code") == codes.BOARD_COMPUTED_TAG for t in tags)


def _label(key: str) -> str:
    return {
        "Patient": "mCODE CancerPatient (US Core Patient)",
        "Condition": "mCODE PrimaryCancerCondition",
        "tnm_category": "mCODE TNM category profile",
        "stage_group": "mCODE TNMStageGroup",
        "tumor_marker": "mCODE TumorMarkerTest",
        "Procedure": "mCODE CancerRelatedSurgicalProcedure / RadiotherapyCourseSummary",
    }.get(key, f"mCODE profile of {key}")


def check(raw: bytes) -> dict[str, Any]:
    """The bundle as a dict, once the FHIR models and the mCODE profiles accept it."""
    data = load_json(raw)
    validate_bundle(data)
    issues = profile_issues(data)
    if issues:
        raise FhirRefused(issues)
    return data
