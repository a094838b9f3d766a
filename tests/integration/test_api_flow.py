"""The whole flow through the JSON API, with routing called in-process.
(The same flow with a real worker over HTTP is tests/e2e/test_http_flow.py.)"""

from __future__ import annotations

import io

from pypdf import PdfReader
from sqlalchemy import select

from board.auth.roles import Role
from board.extensions import db
from board.outbox.models import OutboxMessage
from board.routing.services import route_case
from tests.support import factories as f
from tests.support.api import Api


def _world():
    home = f.institution("Home Oncology")
    away = f.institution("University Breast Center")
    return {
        "referrer": f.user(Role.REFERRER, home),
        "colleague_pathologist": f.user(Role.PATHOLOGIST, home),
        "pathologist": f.user(Role.PATHOLOGIST, away),
        "medonc": f.user(Role.MEDICAL_ONCOLOGIST, away),
        "coordinator": f.user(Role.COORDINATOR, away),
    }


def test_a_case_goes_from_draft_to_acknowledged_through_the_api(client, ctx):
    people = _world()
    referrer = Api(client, people["referrer"].email)
    created = referrer.post("/cases", f.case_body(requested_specialties=["medical_oncology"]))
    assert created.status_code == 201, created.get_json()
    case_id = created.get_json()["id"]
    assert created.get_json()["status"] == "draft"

    refused = referrer.post(f"/cases/{case_id}/submit")
    assert refused.status_code == 422
    assert refused.get_json()["missing_records"] == ["pathology_report"]

    uploaded = referrer.upload(case_id, "pathology_report", f.pdf())
    assert uploaded.status_code == 201
    assert len(uploaded.get_json()["sha256"]) == 64

    submitted = referrer.post(f"/cases/{case_id}/submit")
    assert submitted.status_code == 202
    assert submitted.get_json()["status"] == "submitted"
    message = db.session.scalar(select(OutboxMessage))
    assert (message.task, message.payload) == ("routing.route_case", {"case_id": case_id})

    route_case(case_id, message.id)
    detail = referrer.get(f"/cases/{case_id}").get_json()
    assert detail["status"] == "in_review"
    by_specialty = {a["specialty"]: a for a in detail["assignments"]}
    assert set(by_specialty) == {"pathology", "medical_oncology"}
    # The pathologist at the referrer's own institution is never chosen.
    assert by_specialty["pathology"]["reviewer"]["id"] == people["pathologist"].id

    for person in ("pathologist", "medonc"):
        reviewer = Api(client, people[person].email)
        (assignment,) = reviewer.get("/assignments").get_json()["assignments"]
        assert reviewer.post(f"/assignments/{assignment['id']}/accept").status_code == 200
        body = f.review_body(
            stage={
                "verdict": "differ",
                "severity": "major",
                "alternative": {"t": "cT3", "n": "cN1", "m": "cM0"},
                "rationale": "The MRI shows a 5.5 cm mass.",
            }
        )
        signed = reviewer.post(f"/assignments/{assignment['id']}/review", body)
        assert signed.status_code == 201, signed.get_json()
        again = reviewer.post(f"/assignments/{assignment['id']}/review", body)
        assert again.status_code == 409

    coordinator = Api(client, people["coordinator"].email)
    assert coordinator.get(f"/cases/{case_id}").get_json()["status"] == "ready_for_board"
    consensus = coordinator.post(
        f"/cases/{case_id}/consensus",
        {
            "summary": "Upstage to cT3 cN1; neoadjuvant therapy first.",
            "recommendations": "Neoadjuvant chemotherapy.",
        },
    )
    assert consensus.status_code == 201, consensus.get_json()
    assert coordinator.post(f"/cases/{case_id}/release").status_code == 200

    pdf = referrer.get(f"/cases/{case_id}/second-opinion.pdf")
    assert pdf.status_code == 200
    assert pdf.data.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    for expected in (
        "Second opinion: breast tumor board",
        "MRN-0001",
        "Page 1 of",
        "The board's consensus",
        "Upstage to cT3 cN1",
        "Confidential patient",
    ):
        assert expected in text, expected
    acknowledged = referrer.post(f"/cases/{case_id}/acknowledge")
    assert acknowledged.get_json()["status"] == "acknowledged"

    timeline = [e["to"] for e in referrer.get(f"/cases/{case_id}").get_json()["timeline"]]
    assert timeline == [
        "draft",
        "submitted",
        "in_review",
        "ready_for_board",
        "consensus",
        "reported",
        "acknowledged",
    ]
