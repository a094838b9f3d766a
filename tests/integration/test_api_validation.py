"""Bad input on every endpoint gets a clear message and the right status, never a trace."""

from __future__ import annotations

import pytest

from board.auth.roles import Role
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api


@pytest.fixture
def people(ctx):
    home, away = f.institution("Home"), f.institution("Away")
    return {
        "referrer": f.user(Role.REFERRER, home),
        "other_referrer": f.user(Role.REFERRER, f.institution("Elsewhere")),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "other_pathologist": f.user(Role.PATHOLOGIST, away),
        "coordinator": f.user(Role.COORDINATOR, away),
        "admin": f.user(Role.ADMIN, away),
    }


def messages(response) -> dict[str, str]:
    body = response.get_json()
    assert set(body) >= {"error", "details"}
    return {d["field"]: d["message"] for d in body["details"]}


def new_case(api: Api, **overrides) -> int:
    response = api.post("/cases", f.case_body(**overrides))
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"timepoint": "later"},
            "timepoint",
            "must be one of post_biopsy, pre_surgery, post_surgery or during_treatment",
        ),
        (
            {"patient": {"name": "A", "birth_date": "14/03/1968", "mrn": "1", "sex": "female"}},
            "patient.birth_date",
            "must be a date written as YYYY-MM-DD",
        ),
        (
            {"patient": {"name": "A", "birth_date": "2999-01-01", "mrn": "1", "sex": "female"}},
            "patient.birth_date",
            "cannot be in the future",
        ),
        (
            {"patient": {"birth_date": "1968-03-14", "mrn": "1", "sex": "female"}},
            "patient.name",
            "is required",
        ),
        (
            {"patient": {"name": " ", "birth_date": "1968-03-14", "mrn": "1", "sex": "female"}},
            "patient.name",
            "must not be empty",
        ),
        (
            {"patient": {"name": "A", "birth_date": "1968-03-14", "mrn": "1", "sex": "f"}},
            "patient.sex",
            "must be one of female, male, other or unknown",
        ),
        ({"diagnosis": {"grade": 4}}, "diagnosis.grade", "must be at most 3"),
        ({"diagnosis": {"grade": "two"}}, "diagnosis.grade", "must be a whole number"),
        ({"diagnosis": {"her2": "3+"}}, "diagnosis.her2", "must be one of positive, equivocal"),
        ({"diagnosis": {"HER2": "negative"}}, "diagnosis.HER2", "is not a field the board knows"),
        ({"stage": {"t": "T5"}}, "stage.t", "must be an AJCC 8th edition T category"),
        ({"stage": {"m": "M2"}}, "stage.m", "must be an AJCC 8th edition M category: cM0"),
        ({"plan": {"radiation": "maybe"}}, "plan.radiation", "must be true or false"),
        (
            {"requested_specialties": ["oncology"]},
            "requested_specialties.0",
            "must be one of pathology",
        ),
        ({"insurance": {"insurer": "X"}}, "insurance.second_opinion_covered", "is required"),
        ({"question": ""}, "question", "must not be empty"),
    ],
)
def test_a_bad_case_field_is_refused_with_a_message_naming_it(
    client, people, change, field, message
):
    api = Api(client, people["referrer"].email)
    response = api.post("/cases", f.case_body(**change))
    assert response.status_code == 422
    found = messages(response)
    assert field in found, found
    assert found[field].startswith(message), found[field]


def test_a_body_that_is_not_json_is_refused(client, people):
    api = Api(client, people["referrer"].email)
    response = api.post("/cases", data="patient=Ada", content_type="text/plain")
    assert response.status_code == 422
    assert "must be JSON" in messages(response)["body"]


def test_the_api_needs_a_valid_token(client, people):
    assert client.get("/api/v1/cases").status_code == 401
    bad = client.get("/api/v1/cases", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert bad.get_json()["error"] == "A valid bearer token is required"


def test_a_wrong_password_gets_no_token(client, people):
    response = client.post(
        "/api/v1/auth/token", json={"username": people["referrer"].email, "password": "wrong"}
    )
    assert response.status_code == 401
    assert "token" not in response.get_json()
    missing = client.post("/api/v1/auth/token", json={"username": people["referrer"].email})
    assert missing.status_code == 422


def test_an_upload_that_is_not_a_pdf_is_refused(client, people):
    api = Api(client, people["referrer"].email)
    case_id = new_case(api)
    fake = api.upload(case_id, "pathology_report", b"<html>not a pdf</html>", "report.pdf")
    assert fake.status_code == 422
    assert messages(fake)["file"] == "is not a PDF: it is a web page or XML document"
    broken = api.upload(case_id, "pathology_report", b"%PDF-1.4\n garbage", "report.pdf")
    assert broken.status_code == 422
    assert "incomplete PDF" in messages(broken)["file"]
    wrong_kind = api.upload(case_id, "xray", f.pdf())
    assert wrong_kind.status_code == 422
    assert messages(wrong_kind)["kind"].startswith("must be one of pathology_report")
    assert api.get(f"/cases/{case_id}").get_json()["records"] == []


def test_an_oversize_upload_is_refused_with_413(app, client, people):
    api = Api(client, people["referrer"].email)
    case_id = new_case(api)
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = api.upload(case_id, "pathology_report", b"%PDF-1.4\n" + b"0" * limit)
    assert response.status_code == 413
    assert "20 MB" in response.get_json()["error"]


def test_submitting_without_required_records_lists_what_is_missing(client, people):
    api = Api(client, people["referrer"].email)
    case_id = new_case(api, timepoint="post_surgery")
    api.upload(case_id, "imaging_report", f.pdf())
    response = api.post(f"/cases/{case_id}/submit")
    assert response.status_code == 422
    body = response.get_json()
    assert body["missing_records"] == ["pathology_report", "operative_report"]
    assert body["errors"][1].startswith("Operative report is missing")
    assert api.get(f"/cases/{case_id}").get_json()["status"] == "draft"


def test_a_submitted_case_can_no_longer_be_changed(client, people):
    api = Api(client, people["referrer"].email)
    case_id = new_case(api)
    api.upload(case_id, "pathology_report", f.pdf())
    assert api.post(f"/cases/{case_id}/submit").status_code == 202
    assert api.post(f"/cases/{case_id}/submit").status_code == 409
    late = api.upload(case_id, "imaging_report", f.pdf())
    assert late.status_code == 409


@pytest.mark.parametrize(
    ("verdict", "message"),
    [
        (
            {"verdict": "differ", "rationale": "x", "alternative": {"t": "cT3"}},
            "a differ needs a severity",
        ),
        (
            {"verdict": "differ", "severity": "major", "alternative": {"t": "cT3"}},
            "a differ needs a rationale",
        ),
        (
            {"verdict": "differ", "severity": "major", "rationale": "bigger"},
            "a differ needs your alternative",
        ),
        ({"verdict": "concur", "severity": "minor"}, "a concur has no severity"),
        ({"verdict": "maybe"}, "must be one of concur or differ"),
        (
            {"verdict": "differ", "severity": "huge", "rationale": "x", "alternative": "cT3"},
            "must be one of minor or major",
        ),
    ],
)
def test_a_bad_verdict_is_refused_with_a_message(client, people, verdict, message):
    referrer = Api(client, people["referrer"].email)
    case_id = new_case(referrer)
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    reviewer_email = next(
        p.email
        for k, p in people.items()
        if k.endswith("pathologist")
        and Api(client, p.email).get("/assignments").get_json()["assignments"]
    )
    reviewer = Api(client, reviewer_email)
    (assignment,) = reviewer.get("/assignments").get_json()["assignments"]
    response = reviewer.post(
        f"/assignments/{assignment['id']}/review", f.review_body(stage=verdict)
    )
    assert response.status_code == 422
    text = " ".join(messages(response).values())
    assert message in text, text


def test_a_differ_alternative_uses_the_case_fields(client, people):
    referrer = Api(client, people["referrer"].email)
    case_id = new_case(referrer)
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    assignment = next(
        a
        for p in ("pathologist", "other_pathologist")
        for a in Api(client, people[p].email).get("/assignments").get_json()["assignments"]
    )
    reviewer = next(
        Api(client, people[p].email)
        for p in ("pathologist", "other_pathologist")
        if people[p].id == assignment["reviewer"]["id"]
    )
    bad = reviewer.post(
        f"/assignments/{assignment['id']}/review",
        f.review_body(
            stage={
                "verdict": "differ",
                "severity": "major",
                "rationale": "x",
                "alternative": {"t": "cT9"},
            }
        ),
    )
    assert bad.status_code == 422
    assert "stage.alternative" in " ".join(messages(bad))
    good = reviewer.post(
        f"/assignments/{assignment['id']}/review",
        f.review_body(
            stage={
                "verdict": "differ",
                "severity": "major",
                "rationale": "5.5 cm on MRI",
                "alternative": {"t": "cT3", "n": "cN0", "m": "cM0"},
            }
        ),
    )
    assert good.status_code == 201
    assert good.get_json()["stage"]["alternative"] == {"t": "cT3", "n": "cN0", "m": "cM0"}


def test_declining_needs_a_reason(client, people):
    referrer = Api(client, people["referrer"].email)
    case_id = new_case(referrer)
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    for key in ("pathologist", "other_pathologist"):
        reviewer = Api(client, people[key].email)
        for assignment in reviewer.get("/assignments").get_json()["assignments"]:
            response = reviewer.post(f"/assignments/{assignment['id']}/decline", {"reason": "  "})
            assert response.status_code == 422
            assert messages(response)["reason"] == "must not be empty"


def test_the_consensus_waits_for_every_review(client, people):
    referrer = Api(client, people["referrer"].email)
    case_id = new_case(referrer)
    referrer.upload(case_id, "pathology_report", f.pdf())
    referrer.post(f"/cases/{case_id}/submit")
    route_case(case_id)
    coordinator = Api(client, people["coordinator"].email)
    early = coordinator.post(f"/cases/{case_id}/consensus", {"summary": "Agree."})
    assert early.status_code == 409
    assert "once every review is in" in early.get_json()["error"]
    empty = coordinator.post(f"/cases/{case_id}/consensus", {"summary": ""})
    assert empty.status_code == 422
    assert coordinator.post(f"/cases/{case_id}/release").status_code == 409
    assert referrer.post(f"/cases/{case_id}/acknowledge").status_code == 409


def test_an_unknown_path_is_a_json_404(client):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.get_json()["error"] == "Not found"  # the words of a missing or denied object


def test_unparseable_json_is_a_400_and_a_json_list_is_a_422(client, people):
    api = Api(client, people["referrer"].email)
    broken = api.post("/cases", data='{"patient": ', content_type="application/json")
    assert broken.status_code == 400
    assert "not valid JSON" in broken.get_json()["error"]
    listed = api.post("/cases", [f.case_body()])
    assert listed.status_code == 422
    assert messages(listed)["body"] == "must be a JSON object"
