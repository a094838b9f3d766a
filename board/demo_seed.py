"""Builds the demo world through the same services the pages use."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from board.auth import services as auth
from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings import meetings as board_meetings
from board.board_meetings import services as meetings
from board.board_meetings.schemas import ConsensusInput
from board.cases import services as cases
from board.cases.models import Case
from board.cases.schemas import CaseInput
from board.extensions import db
from board.pdf_sample import sample_pdf
from board.reviews import services as reviews
from board.reviews.models import Assignment
from board.reviews.schemas import ReviewInput
from board.routing import services as routing

ACCOUNTS = [
    # email, name, role, institution
    ("referrer@demo.test", "Dr. Rosa Referrer", Role.REFERRER, "Riverside Community Oncology"),
    ("referrer2@demo.test", "Dr. Omar Okafor", Role.REFERRER, "Lakeshore Cancer Centre"),
    ("pathologist@demo.test", "Dr. Priya Pathak", Role.PATHOLOGIST, "University Breast Center"),
    ("surgeon@demo.test", "Dr. Sam Surgeon", Role.BREAST_SURGEON, "University Breast Center"),
    ("medonc@demo.test", "Dr. Mei Chen", Role.MEDICAL_ONCOLOGIST, "University Breast Center"),
    ("radonc@demo.test", "Dr. Raj Radley", Role.RADIATION_ONCOLOGIST, "Northside Cancer Institute"),
    (
        "radiologist@demo.test",
        "Dr. Ana Imaging",
        Role.BREAST_RADIOLOGIST,
        "Northside Cancer Institute",
    ),
    ("plastic@demo.test", "Dr. Paul Plastic", Role.PLASTIC_SURGEON, "Northside Cancer Institute"),
    ("coordinator@demo.test", "Carla Coordinator", Role.COORDINATOR, "University Breast Center"),
    ("admin@demo.test", "Adam Admin", Role.ADMIN, "University Breast Center"),
]

NETWORKS = {
    "University Breast Center": ["Acme Health", "Blue Shield Demo"],
    "Northside Cancer Institute": ["Acme Health"],
}


def _case(name: str, mrn: str, timepoint: str, question: str, **extra: object) -> CaseInput:
    body: dict[str, object] = {
        "patient": {"name": name, "birth_date": "1968-03-14", "mrn": mrn, "sex": "female"},
        "timepoint": timepoint,
        "question": question,
        "diagnosis": {
            "histologic_type": "invasive_ductal",
            "laterality": "left",
            "nottingham": {"tubules": 3, "pleomorphism": 2, "mitoses": 2},
            "er_percent": 95,
            "er_intensity": "strong",
            "pr_percent": 60,
            "her2_ihc": "1+",
            "ki67_percent": 15,
            "lymphovascular_invasion": False,
        },
        "stage": {"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IB"},
        "plan": {
            "neoadjuvant": False,
            "surgery": "lumpectomy",
            "radiation": True,
            "endocrine": "letrozole",
            "medications": [
                {
                    "name": "letrozole",
                    "dose": 2.5,
                    "unit": "mg",
                    "route": "oral",
                    "frequency": "daily",
                },
            ],
        },
        "insurance": {
            "insurer": "Acme Health",
            "second_opinion_covered": True,
            "required_by_insurer": False,
            "pathology_review_covered": True,
        },
    }
    body.update(extra)
    return CaseInput.model_validate(body)


CONCUR = {"verdict": "concur", "rationale": "Agree with the original reading."}


def seed(password: str) -> bool:
    if db.session.scalar(select(User).where(User.email == "admin@demo.test")):
        return False
    institutions = {}
    auth.validate_new_password(password, email="admin@demo.test")
    password_hash = auth.hash_password(password)
    for email, name, role, institution_name in ACCOUNTS:
        if institution_name not in institutions:
            institutions[institution_name] = auth.create_institution(
                institution_name, NETWORKS.get(institution_name, [])
            )
        account = auth.create_user(
            email=email,
            name=name,
            role=role,
            institution=institutions[institution_name],
            password_hash=password_hash,
        )
        # The demo accounts sign in without a second factor, so `make run` shows the
        # board at once. Only this seed sets the flag (board/auth/mfa.py).
        account.mfa_exempt = True
    db.session.commit()

    user = {u.email: u for u in db.session.scalars(select(User))}
    referrer = user["referrer@demo.test"]
    coordinator = user["coordinator@demo.test"]

    # A draft still waiting for its imaging report.
    draft = cases.create_draft(
        referrer,
        _case(
            "Jane Demo-Draft",
            "DEMO-1001",
            "pre_surgery",
            "Is breast conservation reasonable, or should she have neoadjuvant therapy first?",
        ),
    )
    cases.add_record(
        referrer,
        draft.id,
        kind="pathology_report",
        filename="core-biopsy.pdf",
        data=sample_pdf("Core biopsy: invasive ductal carcinoma, grade 2"),
    )

    # Submitted and routed before surgery: surgeon, radiologist, medical oncologist and,
    # because reconstruction is planned, the plastic surgeon.
    routed = cases.create_draft(
        referrer,
        _case(
            "Maria Demo-Review",
            "DEMO-1002",
            "pre_surgery",
            "Lumpectomy or mastectomy with immediate reconstruction?",
            # Submitted as IIA: the board computes IB for cT2 cN0 G2 ER+ PR+ HER2-, and
            # every page that shows the case flags the difference.
            stage={"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IIA"},
            plan={
                "neoadjuvant": False,
                "surgery": "mastectomy",
                "reconstruction": True,
                "radiation": False,
                "endocrine": "tamoxifen",
            },
        ),
    )
    for kind, text in (
        ("pathology_report", "Core biopsy: invasive lobular carcinoma"),
        ("imaging_report", "MRI: 3.1 cm mass, left upper outer quadrant"),
    ):
        cases.add_record(
            referrer, routed.id, kind=kind, filename=f"{kind}.pdf", data=sample_pdf(text)
        )
    cases.submit(referrer, routed.id)
    routing.route_case(routed.id)

    # The insurer pays only in its network, and no in-network radiologist exists:
    # the coordinator's unroutable queue.
    other = user["referrer2@demo.test"]
    stuck = cases.create_draft(
        other,
        _case(
            "Lena Demo-Unroutable",
            "DEMO-2001",
            "pre_surgery",
            "Is neoadjuvant chemotherapy indicated before surgery?",
            insurance={
                "insurer": "Blue Shield Demo",
                "second_opinion_covered": True,
                "required_by_insurer": True,
                "pathology_review_covered": False,
                "network_restriction": True,
            },
        ),
    )
    for kind in ("pathology_report", "imaging_report"):
        cases.add_record(
            other,
            stuck.id,
            kind=kind,
            filename=f"{kind}.pdf",
            data=sample_pdf(f"{kind} for DEMO-2001"),
        )
    cases.submit(other, stuck.id)
    routing.route_case(stuck.id)

    # Every review in: ready for the board.
    ready = _submitted(
        referrer,
        "Helen Demo-Ready",
        "DEMO-1003",
        "Is this really HER2-negative? IHC was 2+ on the outside report.",
        # IHC 2+ with a borderline ISH (ASCO/CAP group 4): called negative outside.
        diagnosis={
            "histologic_type": "invasive_ductal",
            "laterality": "left",
            "grade": 2,
            "er_percent": 80,
            "pr_percent": 30,
            "her2_ihc": "2+",
            "her2_ish_ratio": 1.7,
            "her2_copy_number": 4.6,
            "her2": "negative",
        },
    )
    routing.route_case(ready.id)
    _review_all(
        ready.id,
        {
            "diagnosis": {
                "verdict": "differ",
                "severity": "major",
                "alternative": {"her2": "equivocal"},
                "reasons": ["her2"],
                "rationale": "IHC 2+ with ISH group 4 (ratio 1.7, 4.6 copies) needs the ASCO/CAP "
                "additional workup before HER2 can be called negative.",
            },
            "stage": CONCUR,
            "plan": CONCUR,
            "additional_options": "Repeat HER2 ISH with a recount by a second observer.",
            "retesting": ["her2_ish"],
        },
    )

    # A weekly tumor board from next Monday, with the ready case on its first agenda.
    today = dt.datetime.now(dt.UTC).replace(hour=16, minute=0, second=0, microsecond=0)
    monday = today + dt.timedelta(days=7 - today.weekday())
    series = board_meetings.create_meeting(
        coordinator,
        starts_at=monday,
        place="Breast Center, conference room 4",
        video_link="https://video.example/tumor-board",
        expected_specialties=["pathology", "medical_oncology", "breast_surgery"],
        weeks=4,
    )
    board_meetings.add_to_agenda(coordinator, series[0].id, ready.id)

    # Released to the referrer.
    done = _submitted(
        referrer,
        "Ruth Demo-Done",
        "DEMO-1004",
        "Second opinion requested by the insurer before treatment.",
    )
    routing.route_case(done.id)
    _review_all(done.id, {"diagnosis": CONCUR, "stage": CONCUR, "plan": CONCUR})
    meetings.record_consensus(
        coordinator,
        done.id,
        ConsensusInput(
            summary="The board concurs with the diagnosis, stage and plan.",
            recommendations="Proceed with lumpectomy and sentinel node biopsy as planned.",
        ),
    )
    meetings.release(coordinator, done.id)
    return True


def _submitted(referrer: User, name: str, mrn: str, question: str, **extra: object) -> Case:
    case = cases.create_draft(referrer, _case(name, mrn, "post_biopsy", question, **extra))
    cases.add_record(
        referrer,
        case.id,
        kind="pathology_report",
        filename="pathology.pdf",
        data=sample_pdf(f"Pathology report for {mrn}"),
    )
    return cases.submit(referrer, case.id)


def _review_all(case_id: int, body: dict[str, object]) -> None:
    for assignment in db.session.scalars(select(Assignment).where(Assignment.case_id == case_id)):
        reviews.submit_review(assignment.reviewer, assignment.id, ReviewInput.model_validate(body))
