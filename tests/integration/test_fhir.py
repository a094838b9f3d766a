"""HL7 FHIR R4 / mCODE: referrals imported as draft cases, the second opinion exported as
a FHIR document, through the JSON API on the real database."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import func, select

from board.audit.models import AuditEvent
from board.auth.roles import Role
from board.cases.models import Case, CaseEvent, Record, RecordBlob
from board.extensions import db
from board.fhir.exporter import profile_problems
from board.fhir.models import FhirImport
from board.outbox.models import OutboxMessage
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fhir"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def post_bundle(api: Api, bundle: Any, **kwargs: Any) -> Any:
    data = bundle if isinstance(bundle, bytes) else json.dumps(bundle).encode()
    return api.client.post(
        "/api/v1/cases/import/fhir",
        data=data,
        headers=api.headers,
        content_type="application/fhir+json",
        **kwargs,
    )


def _world() -> dict[str, Any]:
    home = f.institution("Home Oncology")
    away = f.institution("University Breast Center")
    return {
        "referrer": f.user(Role.REFERRER, home),
        "other_referrer": f.user(Role.REFERRER, away),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away),
        "coordinator": f.user(Role.COORDINATOR, away),
    }


def _counts() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Case, CaseEvent, Record, RecordBlob, FhirImport)
    }


# --- Import ------------------------------------------------------------------------------------


def test_the_anyperson_referral_becomes_a_draft_with_every_field_mapped(client, ctx):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    response = post_bundle(referrer, fixture("anyperson_breast"))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    case = referrer.get(f"/cases/{body['id']}").get_json()
    assert case["status"] == "draft"
    assert case["patient"] == {
        "name": "John B. Anyperson",
        "birth_date": "1951-01-20",
        "mrn": "m123",
        "sex": "male",
    }
    assert case["diagnosis"] == {
        "histologic_type": "invasive_ductal",
        "laterality": "left",
        "er": "positive",
        "pr": "positive",
        "her2": "negative",
        "her2_ihc": "1+",
        "grade": 2,
    }
    assert case["stage"] == {
        "clinical_t": "cT3",
        "clinical_n": "cN3",
        "clinical_m": "cM0",
        "clinical_prognostic": "IIIC",
    }
    assert case["plan"]["medications"] == [
        {
            "name": "Anastrozole",
            "dose": 1.0,
            "unit": "mg",
            "route": "oral",
            "frequency": "every day",
        },
        {
            "name": "Doxorubicin",
            "dose": 60.0,
            "unit": "mg/m2",
            "route": "intravenous",
            "frequency": "once",
        },
    ]
    assert case["question"].startswith("Is neoadjuvant endocrine therapy reasonable")
    # The attached PDFs went through the record upload's checks into records.
    assert sorted((r["kind"], r["filename"]) for r in case["records"]) == [
        ("imaging_report", "mammogram.pdf"),
        ("pathology_report", "core-biopsy-pathology.pdf"),
    ]
    row = db.session.scalar(select(FhirImport).where(FhirImport.case_id == body["id"]))
    assert [h["kind"] for h in row.history] == ["surgery", "radiotherapy"]
    assert row.history[0]["name"] == "Partial mastectomy"
    assert row.extras == {"tumor_size_mm": 60.0}
    codes = {w["code"] for w in body["warnings"]}
    # mCODE's example stages by the anatomic table (3C); AJCC 8th's clinical prognostic
    # group for a grade 2, ER+ PR+ HER2- cT3 cN3 cM0 is IIIB.
    assert {"stage_group_differs", "medication_without_dose", "insurance_missing"} <= codes
    assert row.warnings == body["warnings"]
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "fhir_import")).all()
    assert [(a.case_id, a.outcome, a.actor_role) for a in audit] == [(body["id"], "ok", "referrer")]


@pytest.mark.parametrize(
    ("code", "path"),
    [
        ("t_category_size", "Bundle.entry[2].resource.valueCodeableConcept"),
        ("stage_summary_differs", "Bundle.entry[1].resource.stage[0].summary"),
        ("stage_group_differs", "Bundle.entry[5].resource.valueCodeableConcept"),
    ],
)
def test_a_bundle_that_contradicts_itself_is_imported_as_given_with_each_warning(
    client, ctx, code, path
):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    response = post_bundle(referrer, fixture("jenny_pathologic_inconsistent"))
    assert response.status_code == 201, response.get_json()
    warnings = {w["code"]: w for w in response.get_json()["warnings"]}
    assert warnings[code]["path"] == path
    case = referrer.get(f"/cases/{response.get_json()['id']}").get_json()
    # As given: pT2 and IB stay, whatever the tables say.
    assert case["stage"]["pathological_t"] == "pT2"
    assert case["stage"]["pathological_prognostic"] == "IB"


def _without(bundle: dict[str, Any], index: int, element: str) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    del out["entry"][index]["resource"][element]
    return out


def _with(bundle: dict[str, Any], index: int, element: str, value: Any) -> dict[str, Any]:
    out = copy.deepcopy(bundle)
    out["entry"][index]["resource"][element] = value
    return out


def _deep(levels: int) -> bytes:
    return (
        b'{"resourceType": "Bundle", "type": "collection", "x": '
        + b"[" * levels
        + b"]" * levels
        + b"}"
    )


_ANY = fixture("anyperson_breast")
_BAD_PDF = copy.deepcopy(_ANY)
_BAD_PDF["entry"][17]["resource"]["presentedForm"][0]["data"] = base64.b64encode(
    b"MZ this is an executable, not a PDF"
).decode()


@pytest.mark.parametrize(
    ("bundle", "status", "path", "words"),
    [
        ({**_ANY, "resourceType": "Patient"}, 422, "Bundle.resourceType", "must be Bundle"),
        ({**_ANY, "type": "searchset"}, 422, "Bundle.type", "collection or transaction"),
        (_without(_ANY, 2, "code"), 422, "Bundle.entry[2].resource.code", "required"),
        (
            _without(_ANY, 0, "birthDate"),
            422,
            "Bundle.entry[0].resource.birthDate",
            "required",
        ),
        (
            _with(_ANY, 0, "birthDate", "20 January 1951"),
            422,
            "Bundle.entry[0].resource.birthDate",
            "",
        ),
        (
            _with(
                _ANY,
                2,
                "valueCodeableConcept",
                {"coding": [{"system": "http://cancerstaging.org", "code": "cT9"}]},
            ),
            422,
            "Bundle.entry[2].resource.valueCodeableConcept",
            "AJCC 8th edition T category",
        ),
        (
            _with(
                _ANY,
                7,
                "valueCodeableConcept",
                {"coding": [{"system": "http://snomed.info/sct", "code": "999999"}]},
            ),
            422,
            "Bundle.entry[7].resource.valueCodeableConcept",
            "not a ER result",
        ),
        (
            {**_ANY, "entry": [*_ANY["entry"], {"resource": {"resourceType": "Spaceship"}}]},
            422,
            "Bundle.entry[20].resource.resourceType",
            "",
        ),
        (_BAD_PDF, 422, "Bundle.entry[17].resource.presentedForm[0]", "not a PDF"),
        (_deep(5000), 422, "Bundle", "nested deeper"),
        (b"{not json", 422, "Bundle", "not valid JSON"),
        (
            b'{"resourceType": "Bundle", "type": "collection", "pad": "'
            + b"x" * (20 * 1024 * 1024)
            + b'"}',
            413,
            "Bundle",
            "larger than",
        ),
    ],
    ids=[
        "wrong resourceType",
        "wrong bundle type",
        "observation without code",
        "patient without birth date",
        "birth date not a FHIR date",
        "unknown T category code",
        "unknown ER result code",
        "unknown resource type",
        "attachment that is not a PDF",
        "deep nesting",
        "not JSON",
        "a 20 MB bundle",
    ],
)
def test_a_malformed_bundle_is_refused_with_an_operation_outcome_and_nothing_created(
    client, ctx, bundle, status, path, words
):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    before = _counts()
    response = post_bundle(referrer, bundle)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/fhir+json"
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = next((i for i in outcome["issue"] if path in i["expression"]), None)
    assert issue is not None, outcome
    assert words in issue["diagnostics"]
    db.session.remove()
    assert _counts() == before


def test_only_a_referrer_imports_and_everyone_else_gets_a_404(client, ctx):
    people = _world()
    for who in ("coordinator", "pathologist"):
        api = Api(client, people[who].email)
        response = post_bundle(api, fixture("anyperson_breast"))
        assert response.status_code == 404
    assert _counts()["Case"] == 0
    denied = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "fhir_import")).all()
    assert {a.outcome for a in denied} == {"denied"}


# --- Export and round trip ------------------------------------------------------------------

ROUND_TRIP_CASE = f.case_body(
    diagnosis={
        "histologic_type": "invasive_ductal",
        "laterality": "right",
        "nottingham": {"tubules": 3, "pleomorphism": 2, "mitoses": 2},
        "grade": 2,
        "er": "positive",
        "er_percent": 90.0,
        "er_intensity": "strong",
        "pr": "low_positive",
        "pr_percent": 5.0,
        "pr_intensity": "weak",
        "her2": "negative",
        "her2_ihc": "1+",
        "ki67_percent": 20.0,
        "lymphovascular_invasion": True,
        "margins": "negative",
        "closest_margin_mm": 4.0,
        "nodes_examined": 12,
        "nodes_positive": 0,
    },
    stage={
        "t": "cT2",
        "n": "cN0",
        "m": "cM0",
        "pathological_t": "pT2",
        "pathological_n": "pN0",
        "pathological_m": "cM0",
        "recurrence_score": 15,
        "clinical_prognostic": "IB",
        "anatomic": "IIA",
    },
    plan={
        "neoadjuvant": False,
        "surgery": "lumpectomy",
        "reconstruction": False,
        "chemotherapy": "none",
        "radiation": True,
        "endocrine": "letrozole",
        "medications": [
            {"name": "Letrozole", "dose": 2.5, "unit": "mg", "route": "oral", "frequency": "daily"},
            {
                "name": "Zoledronic acid",
                "dose": 4.0,
                "unit": "mg",
                "route": "intravenous",
                "frequency": "every 6 months",
            },
        ],
    },
)


def _release(
    client: Any, people: dict[str, Any], referrer: Api, case_id: int, *, release: bool = True
) -> None:
    assert referrer.post(f"/cases/{case_id}/submit").status_code == 202
    message = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.task == "routing.route_case")
    )
    route_case(case_id, message.id)
    for who in ("pathologist",):
        reviewer = Api(client, people[who].email)
        (assignment,) = reviewer.get("/assignments").get_json()["assignments"]
        assert reviewer.post(f"/assignments/{assignment['id']}/accept").status_code == 200
        body = f.review_body(
            stage={
                "verdict": "differ",
                "severity": "minor",
                "alternative": {"t": "cT2", "n": "cN0", "m": "cM0"},
                "rationale": "Same categories; the prognostic group is IA.",
            }
        )
        signed = reviewer.post(f"/assignments/{assignment['id']}/review", body)
        assert signed.status_code == 201, signed.get_json()
    coordinator = Api(client, people["coordinator"].email)
    consensus = coordinator.post(
        f"/cases/{case_id}/consensus",
        {"summary": "Concur with the plan.", "recommendations": "Endocrine therapy."},
    )
    assert consensus.status_code == 201, consensus.get_json()
    if release:
        assert coordinator.post(f"/cases/{case_id}/release").status_code == 200


def _clinical(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case[k] for k in ("patient", "timepoint", "question", "diagnosis", "stage", "plan")}


def test_the_released_second_opinion_exports_as_a_valid_fhir_document(client, ctx):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    case_id = referrer.post("/cases", ROUND_TRIP_CASE).get_json()["id"]
    assert referrer.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    assert referrer.get(f"/cases/{case_id}/fhir").status_code == 404  # not released yet
    _release(client, people, referrer, case_id)

    response = referrer.get(f"/cases/{case_id}/fhir")
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/fhir+json"
    document = response.get_json()
    Bundle.model_validate(document)  # the same maintained models as the import
    assert profile_problems(document) == []
    assert document["type"] == "document"
    resources = [e["resource"] for e in document["entry"]]
    kinds = [r["resourceType"] for r in resources]
    assert kinds[0] == "Composition"
    composition = resources[0]
    assert composition["type"]["coding"][0]["code"] == "11488-4"
    titles = [s["title"] for s in composition["section"]]
    assert titles[0] == "Question" and "Consensus" in titles
    assert any(t.startswith("Review by ") for t in titles)
    assert kinds.count("ServiceRequest") == 1
    tasks = [r for r in resources if r["resourceType"] == "Task"]
    assert [t["status"] for t in tasks] == ["completed"]
    history = [r["activity"]["text"] for r in resources if r["resourceType"] == "Provenance"]
    assert history == ["requested", "accepted", "completed"]
    verdicts = [
        r
        for r in resources
        if r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "review-verdict"
    ]
    by_dimension = {
        v["component"][0]["valueCodeableConcept"]["text"]: (
            v["valueCodeableConcept"]["text"],
            v["component"][1]["valueCodeableConcept"]["text"] if len(v["component"]) > 1 else None,
        )
        for v in verdicts
    }
    assert by_dimension == {
        "diagnosis": ("concur", None),
        "stage": ("differ", "minor"),
        "plan": ("concur", None),
    }
    computed = {
        r["code"]["coding"][-1]["code"]: r["valueCodeableConcept"]["coding"][0]["code"]
        for r in resources
        if r["resourceType"] == "Observation"
        and any(t["code"] == "computed-by-board" for t in r.get("meta", {}).get("tag", []))
    }
    assert computed == {
        "anatomic-stage-group": "IIA",
        "clinical-prognostic-stage-group": "IB",
        "pathological-prognostic-stage-group": "IA",
    }
    (report,) = [r for r in resources if r["resourceType"] == "DocumentReference"]
    assert base64.b64decode(report["content"][0]["attachment"]["data"]).startswith(b"%PDF-")
    exports = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "fhir_export")).all()
    assert [(a.case_id, a.outcome) for a in exports][-1] == (case_id, "ok")

    # Nobody else's: another referrer and a reviewer get the same 404 as a missing case.
    for who in ("other_referrer", "medonc"):
        assert Api(client, people[who].email).get(f"/cases/{case_id}/fhir").status_code == 404
    assert referrer.get("/cases/999999/fhir").status_code == 404


def test_export_then_import_as_a_new_referral_keeps_every_clinical_field(client, ctx):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    case_id = referrer.post("/cases", ROUND_TRIP_CASE).get_json()["id"]
    assert referrer.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    _release(client, people, referrer, case_id)
    original = referrer.get(f"/cases/{case_id}").get_json()
    document = referrer.get(f"/cases/{case_id}/fhir").get_json()

    again = post_bundle(referrer, document)
    assert again.status_code == 201, again.get_json()
    copy_ = referrer.get(f"/cases/{again.get_json()['id']}").get_json()
    assert _clinical(copy_) == _clinical(original)
    # The board's own computed groups and verdicts are not read back as submitted facts.
    assert "stage_summary_differs" not in {w["code"] for w in again.get_json()["warnings"]}


def test_an_imported_referral_round_trips_with_its_history_and_tumour_size(client, ctx):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    imported = post_bundle(referrer, fixture("anyperson_breast")).get_json()
    case = referrer.get(f"/cases/{imported['id']}").get_json()
    # The referrer completes what FHIR did not carry, as the warnings ask.
    body = {
        **_clinical(case),
        "timepoint": "post_biopsy",
        "requested_specialties": [],
        "insurance": f.case_body()["insurance"],
    }
    assert (
        referrer.client.put(
            f"/api/v1/cases/{imported['id']}", json=body, headers=referrer.headers
        ).status_code
        == 200
    )
    _release(client, people, referrer, imported["id"])
    original = referrer.get(f"/cases/{imported['id']}").get_json()
    document = referrer.get(f"/cases/{imported['id']}/fhir").get_json()
    again = post_bundle(referrer, document)
    assert again.status_code == 201, again.get_json()
    copy_ = referrer.get(f"/cases/{again.get_json()['id']}").get_json()
    assert _clinical(copy_) == _clinical(original)
    rows = {r.case_id: r for r in db.session.scalars(select(FhirImport))}
    assert rows[again.get_json()["id"]].history == rows[imported["id"]].history
    assert (
        rows[again.get_json()["id"]].extras
        == rows[imported["id"]].extras
        == {"tumor_size_mm": 60.0}
    )


def test_before_release_the_coordinator_is_told_to_release_and_the_referrer_sees_nothing(
    client, ctx
):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    case_id = referrer.post("/cases", f.case_body()).get_json()["id"]
    assert referrer.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    _release(client, people, referrer, case_id, release=False)
    coordinator = Api(client, people["coordinator"].email)
    response = coordinator.get(f"/cases/{case_id}/fhir")
    assert response.status_code == 409
    assert "released" in response.get_json()["error"]
    assert referrer.get(f"/cases/{case_id}/fhir").status_code == 404
    assert coordinator.post(f"/cases/{case_id}/release").status_code == 200
    assert coordinator.get(f"/cases/{case_id}/fhir").status_code == 200
