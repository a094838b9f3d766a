"""The second opinion's PDF as the referrer downloads it: it opens (pypdf), its text
carries each reviewer's verdict per dimension with its severity, and the consensus; page
1 is rendered to a PNG (pypdfium2: no poppler needed) and saved with the e2e artifacts."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from flask import Flask
from PIL import Image
from pypdf import PdfReader

from board.auth.roles import Role
from board.board_meetings import services as meetings
from board.board_meetings.schemas import ConsensusInput
from board.cases import services as cases
from board.cases.schemas import CaseInput
from board.extensions import db
from board.reviews import services as reviews
from board.reviews.models import Assignment
from board.reviews.schemas import ReviewInput
from board.routing.services import route_case
from board.validation import parse
from tests.support import factories as f
from tests.support.api import Api

pytestmark = pytest.mark.e2e

PATHOLOGY = {
    "diagnosis": {
        "verdict": "differ",
        "severity": "minor",
        "alternative": {"histologic_type": "invasive_ductal", "grade": 3},
        "rationale": "Grade 3 on re-read of the core.",
    },
    "stage": {
        "verdict": "differ",
        "severity": "major",
        "alternative": {"t": "cT3", "n": "cN1", "m": "cM0"},
        "rationale": "The MRI shows a 5.5 cm mass.",
    },
    "plan": {"verdict": "concur", "rationale": "Agree."},
}
CONSENSUS = "The board upstages to cT3 cN1 and recommends neoadjuvant chemotherapy first."


def _released_case(app: Flask) -> tuple[int, str]:
    """A case reviewed by a pathologist (differs) and a medical oncologist (concurs),
    with a signed consensus, released; returns its id and the referrer's email."""
    with app.app_context():
        home, away = f.institution("Home Oncology"), f.institution("University Breast Center")
        referrer = f.user(Role.REFERRER, home, name="Dr. Rhea Referrer")
        f.user(Role.PATHOLOGIST, away, name="Dr. Paula Pathologist")
        f.user(Role.MEDICAL_ONCOLOGIST, away, name="Dr. Max Oncologist")
        coordinator = f.user(Role.COORDINATOR, away, name="Dr. Cora Coordinator")
        body = f.case_body(requested_specialties=["medical_oncology"])
        case_id = cases.create_draft(referrer, parse(CaseInput, body)).id
        cases.add_record(referrer, case_id, kind="pathology_report", filename="p.pdf", data=f.pdf())
        cases.submit(referrer, case_id)
        route_case(case_id)
        for assignment in db.session.scalars(
            db.select(Assignment).where(Assignment.case_id == case_id)
        ).all():
            verdicts = PATHOLOGY if assignment.specialty == "pathology" else {}
            reviews.submit_review(
                assignment.reviewer,
                assignment.id,
                parse(ReviewInput, f.review_body(**verdicts)),
            )
        consensus = {
            "summary": CONSENSUS,
            "stage": {"t": "cT3", "n": "cN1", "m": "cM0"},
            "recommendations": "Re-image after chemotherapy.",
        }
        meetings.record_consensus(coordinator, case_id, parse(ConsensusInput, consensus))
        meetings.release(coordinator, case_id)
        email = referrer.email
        db.session.remove()
    return case_id, email


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_second_opinion_pdf_carries_every_verdict_and_the_consensus_and_page_1_renders(
    app: Flask, artifacts: Path
):
    case_id, email = _released_case(app)
    pdf = Api(app.test_client(), email).get(f"/cases/{case_id}/second-opinion.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"

    reader = PdfReader(io.BytesIO(pdf.data))
    assert len(reader.pages) >= 1
    text = _words(" ".join(page.extract_text() for page in reader.pages))
    assert f"case #{case_id}" in text and "Ada Patient" in text
    # Each reviewer, and their verdict per dimension with its severity (the table reads
    # dimension, verdict, alternative, rationale, row by row).
    pathologist = text.split("Dr. Paula Pathologist")[1].split("Dr. Max Oncologist")[0]
    assert re.search(r"Diagnosis differ \(minor\).*Grade 3 on re-read", pathologist)
    assert re.search(r"Stage differ \(major\).*The MRI shows a 5\.5 cm mass", pathologist)
    assert re.search(r"Plan concur", pathologist)
    oncologist = text.split("Dr. Max Oncologist")[1].split("The board's consensus")[0]
    for dimension in ("Diagnosis", "Stage", "Plan"):
        assert re.search(rf"{dimension} concur", oncologist), dimension
    assert "differ" not in oncologist
    # The consensus, its recommendation and who signed it.
    consensus = text.split("The board's consensus")[1]
    assert CONSENSUS in consensus and "Re-image after chemotherapy." in consensus
    assert "Signed by Dr. Cora Coordinator" in consensus
    assert re.search(r"Page 1 of \d", text)

    document = pdfium.PdfDocument(pdf.data)
    try:
        image = document[0].render(scale=1.5).to_pil().convert("L")
    finally:
        document.close()
    path = artifacts / "second-opinion-pdf-page-1.png"
    image.save(path)
    reopened = Image.open(path)
    assert reopened.size[0] > 800 and reopened.size[1] > 1100  # A4 at 1.5 x 72 dpi
    dark = sum(reopened.convert("L").histogram()[:100])  # pixels darker than 100 of 255
    assert dark > 2000, f"page 1 looks blank: {dark} dark pixels"
