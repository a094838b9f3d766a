"""The structured clinical case through the API: the full model, its refusals,
and the stage the board computes and flags."""

from __future__ import annotations

import pytest

from board.auth.roles import Role
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api

FULL_DIAGNOSIS = {
    "histologic_type": "invasive_lobular",
    "laterality": "right",
    "nottingham": {"tubules": 3, "pleomorphism": 2, "mitoses": 1},
    "er_percent": 90,
    "er_intensity": "strong",
    "pr_percent": 5,
    "her2_ihc": "2+",
    "her2_ish_ratio": 1.4,
    "her2_copy_number": 3.1,
    "ki67_percent": 12,
    "lymphovascular_invasion": False,
    "margins": "negative",
    "closest_margin_mm": 4,
    "nodes_examined": 3,
    "nodes_positive": 0,
}


@pytest.fixture
def people(ctx):
    home, away = f.institution("Home"), f.institution("Away")
    return {
        "referrer": f.user(Role.REFERRER, home),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "coordinator": f.user(Role.COORDINATOR, away),
    }


def test_the_full_clinical_model_is_stored_with_what_it_implies(client, people):
    api = Api(client, people["referrer"].email)
    body = f.case_body(
        timepoint="post_surgery",
        diagnosis=FULL_DIAGNOSIS,
        stage={
            "clinical_t": "cT2",
            "clinical_n": "cN0",
            "clinical_m": "cM0",
            "pathological_t": "pT1c",
            "pathological_n": "pN0(i+)",
            "recurrence_score": 9,
            "pathological_prognostic": "IA",
        },
        plan={
            "neoadjuvant": False,
            "surgery": "lumpectomy",
            "reconstruction": False,
            "radiation": True,
            "endocrine": "anastrozole",
            "medications": [
                {
                    "name": "anastrozole",
                    "dose": 1,
                    "unit": "mg",
                    "route": "oral",
                    "frequency": "daily",
                }
            ],
        },
    )
    created = api.post("/cases", body)
    assert created.status_code == 201, created.get_json()
    case = created.get_json()
    # Grade from the Nottingham score (6 -> 2), ER/PR and HER2 from their measurements.
    assert case["diagnosis"]["grade"] == 2
    assert (case["diagnosis"]["er"], case["diagnosis"]["pr"]) == ("positive", "low_positive")
    assert case["diagnosis"]["her2"] == "negative"
    assert case["plan"]["medications"][0]["unit"] == "mg"
    staging = case["staging"]
    assert staging["computed"]["pathological_prognostic"]["stage"] == "IA"
    assert staging["flags"] == []


@pytest.mark.parametrize(
    ("part", "value", "field", "words"),
    [
        ("diagnosis", {"grade": 4}, "diagnosis.grade", "must be at most 3"),
        ("diagnosis", {"er_percent": 140}, "diagnosis.er_percent", "must be at most 100"),
        (
            "diagnosis",
            {"her2": "negative", "her2_ihc": "3+"},
            "diagnosis.her2",
            "IHC 3+ is positive, not negative",
        ),
        ("diagnosis", {"her2_ihc": "4+"}, "diagnosis.her2_ihc", "must be one of 0, 1+, 2+ or 3+"),
        (
            "diagnosis",
            {"nottingham": {"tubules": 4, "pleomorphism": 1, "mitoses": 1}},
            "diagnosis.nottingham.tubules",
            "must be at most 3",
        ),
        (
            "diagnosis",
            {"grade": 1, "nottingham": {"tubules": 3, "pleomorphism": 3, "mitoses": 3}},
            "diagnosis.grade",
            "score 9 is grade 3",
        ),
        (
            "diagnosis",
            {"margins": "wide"},
            "diagnosis.margins",
            "must be one of negative, close or positive",
        ),
        ("diagnosis", {"sources": {"grad": 3}}, "diagnosis", "sources names grad"),
        ("stage", {"t": "cTis", "n": "cN1"}, "stage.n", "Tis (in situ) cannot have nodal disease"),
        ("stage", {"recurrence_score": 101}, "stage.recurrence_score", "must be at most 100"),
        ("stage", {"clinical_t": "pT2"}, "stage.clinical_t", "holds clinical categories"),
        (
            "plan",
            {
                "medications": [
                    {
                        "name": "letrozole",
                        "dose": -1,
                        "unit": "mg",
                        "route": "oral",
                        "frequency": "daily",
                    }
                ]
            },
            "plan.medications.0.dose",
            "must be greater than 0",
        ),
        (
            "plan",
            {
                "medications": [
                    {
                        "name": "letrozole",
                        "dose": 2.5,
                        "unit": "pills",
                        "route": "oral",
                        "frequency": "daily",
                    }
                ]
            },
            "plan.medications.0.unit",
            "must be one of mg",
        ),
        (
            "plan",
            {
                "medications": [
                    {"name": "letrozole", "dose": 2.5, "unit": "mg", "frequency": "daily"}
                ]
            },
            "plan.medications.0.route",
            "is required",
        ),
    ],
)
def test_impossible_values_are_refused_naming_the_field_and_what_is_allowed(
    client, people, part, value, field, words
):
    api = Api(client, people["referrer"].email)
    response = api.post("/cases", f.case_body(**{part: value}))
    assert response.status_code == 422
    found = {d["field"]: d["message"] for d in response.get_json()["details"]}
    assert field in found, found
    assert words in found[field], found[field]


def test_a_stage_that_disagrees_with_the_tables_is_flagged_to_everyone_who_sees_the_case(
    client, people
):
    referrer = Api(client, people["referrer"].email)
    body = f.case_body(stage={"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IIA"})
    case_id = referrer.post("/cases", body).get_json()["id"]
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    for person in ("referrer", "pathologist", "coordinator"):
        staging = Api(client, people[person].email).get(f"/cases/{case_id}").get_json()["staging"]
        (flag,) = staging["flags"]
        assert (flag["kind"], flag["submitted"], flag["computed"]) == (
            "clinical_prognostic",
            "IIA",
            "IB",
        ), person
        assert "AJCC 8th" in flag["message"]


def test_a_reviewers_stage_alternative_is_staged_by_the_board(client, people):
    referrer = Api(client, people["referrer"].email)
    case_id = referrer.post("/cases", f.case_body()).get_json()["id"]
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    reviewer = Api(client, people["pathologist"].email)
    (assignment,) = reviewer.get("/assignments").get_json()["assignments"]
    review = reviewer.post(
        f"/assignments/{assignment['id']}/review",
        f.review_body(
            diagnosis={
                "verdict": "differ",
                "severity": "major",
                "rationale": "Grade 3 on re-read",
                "alternative": {"grade": 3},
            },
            stage={
                "verdict": "differ",
                "severity": "major",
                "rationale": "5.5 cm on MRI",
                "alternative": {"t": "cT3", "n": "cN0", "m": "cM0", "clinical_prognostic": "IB"},
            },
        ),
    )
    assert review.status_code == 201, review.get_json()
    stage = review.get_json()["stage"]
    # cT3 cN0 cM0 with the reviewer's grade 3, ER+ PR+ HER2-: clinical prognostic IIB.
    assert stage["staging"]["computed"]["clinical_prognostic"]["stage"] == "IIB"
    assert [(x["submitted"], x["computed"]) for x in stage["staging"]["flags"]] == [("IB", "IIB")]
    assert stage["reasons"] == ["tumour_size"]
    assert review.get_json()["diagnosis"]["reasons"] == ["grade"]


def test_differ_reasons_given_by_the_reviewer_are_kept_with_those_implied(client, people):
    referrer = Api(client, people["referrer"].email)
    case_id = referrer.post("/cases", f.case_body()).get_json()["id"]
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    reviewer = Api(client, people["pathologist"].email)
    (assignment,) = reviewer.get("/assignments").get_json()["assignments"]
    bad = reviewer.post(
        f"/assignments/{assignment['id']}/review",
        f.review_body(plan={"verdict": "concur", "reasons": ["radiation"]}),
    )
    assert bad.status_code == 422
    review = reviewer.post(
        f"/assignments/{assignment['id']}/review",
        f.review_body(
            plan={
                "verdict": "differ",
                "severity": "major",
                "rationale": "Omit radiation at 70+",
                "alternative": {"radiation": False},
                "reasons": ["additional_lesion"],
            },
            retesting=["her2_ish", "genomic_assay"],
        ),
    )
    assert review.status_code == 201, review.get_json()
    assert review.get_json()["plan"]["reasons"] == ["additional_lesion", "radiation"]
    assert review.get_json()["retesting"] == ["her2_ish", "genomic_assay"]


@pytest.mark.parametrize(
    ("query", "stage"),
    [
        ("kind=anatomic&t=T2&n=N0&m=M0", "IIA"),
        (
            "kind=clinical_prognostic&t=cT2&n=cN0&m=cM0&grade=2&er=positive&pr=positive&her2=negative",
            "IB",
        ),
        (
            "kind=pathological_prognostic&t=pT1c&n=pN0&m=M0&grade=3&er=positive&pr=negative"
            "&her2=negative&recurrence_score=8",
            "IA",
        ),
        ("kind=clinical_prognostic&t=T2&n=N0&m=M0", None),
    ],
)
def test_the_staging_endpoint_answers_with_stage_edition_and_explanation(client, query, stage):
    response = client.get(f"/api/v1/staging?{query}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["stage"] == stage
    assert body["edition"] == "AJCC 8th"
    assert body["explanation"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("kind=anatomic&t=T9&n=N0&m=M0", "t"),
        ("kind=prognostic&t=T1&n=N0&m=M0", "kind"),
        ("kind=anatomic&n=N0&m=M0", "t"),
        ("kind=clinical_prognostic&t=T1&n=N0&m=M0&grade=4", "grade"),
        ("kind=pathological_prognostic&t=T1&n=N0&m=M0&recurrence_score=high", "recurrence_score"),
    ],
)
def test_the_staging_endpoint_refuses_bad_input_naming_the_field(client, query, field):
    response = client.get(f"/api/v1/staging?{query}")
    assert response.status_code == 422
    assert [d["field"] for d in response.get_json()["details"]] == [field]
