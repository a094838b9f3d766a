"""The whole flow over HTTP against gunicorn, a real Celery worker, PostgreSQL,
Redis and SMTP: submit, the worker routes, two reviewers review, consensus,
release, the referrer acknowledges."""

from __future__ import annotations

from board.auth.roles import Role
from tests.support import factories as f
from tests.support.api import HttpApi
from tests.support.processes import wait_until


def test_a_case_travels_from_submission_to_acknowledged_second_opinion(app, stack):
    with app.app_context():
        home, away = f.institution("Riverside Oncology"), f.institution("University Breast Center")
        referrer = f.person(Role.REFERRER, home)
        pathologist = f.person(Role.PATHOLOGIST, away)
        medonc = f.person(Role.MEDICAL_ONCOLOGIST, away)
        coordinator = f.person(Role.COORDINATOR, away)
        f.person(Role.PATHOLOGIST, home)  # same institution as the referrer: never chosen

    api = HttpApi(stack.base_url, referrer.email)
    created = api.post("/cases", f.case_body(requested_specialties=["medical_oncology"]))
    assert created.status_code == 201, created.text
    case_id = created.json()["id"]
    assert api.upload(case_id, "pathology_report", f.pdf()).status_code == 201
    assert api.post(f"/cases/{case_id}/submit").status_code == 202

    # The worker routes the case: one assignment per required specialty.
    def routed():
        body = api.get(f"/cases/{case_id}").json()
        return body if body["status"] == "in_review" else None

    case = wait_until(routed, timeout=20, what="the worker to route the case")
    assigned = {a["specialty"]: a["reviewer"]["id"] for a in case["assignments"]}
    assert assigned == {"pathology": pathologist.id, "medical_oncology": medonc.id}

    # Each reviewer is told by email (real SMTP) and in the in-app inbox.
    wait_until(lambda: len(stack.mail.messages) >= 2, what="assignment emails")
    recipients = sorted(m["To"] for m in stack.mail.messages)
    assert recipients == sorted([pathologist.email, medonc.email])
    assert all(f"case #{case_id}" in m["Subject"] for m in stack.mail.messages)
    assert all("Ada Patient" not in m.as_string() for m in stack.mail.messages)

    verdicts = {
        pathologist.email: f.review_body(
            diagnosis={
                "verdict": "differ",
                "severity": "major",
                "rationale": "Grade 3 on re-read.",
                "alternative": {"histologic_type": "invasive_ductal", "grade": 3},
            }
        ),
        medonc.email: f.review_body(),
    }
    for email, body in verdicts.items():
        reviewer = HttpApi(stack.base_url, email)
        (assignment,) = reviewer.get("/assignments").json()["assignments"]
        assert assignment["case_id"] == case_id and assignment["due_at"]
        assert reviewer.post(f"/assignments/{assignment['id']}/accept").status_code == 200
        assert reviewer.post(f"/assignments/{assignment['id']}/review", body).status_code == 201
        assert reviewer.post(f"/assignments/{assignment['id']}/review", body).status_code == 409

    board = HttpApi(stack.base_url, coordinator.email)
    assert board.get(f"/cases/{case_id}").json()["status"] == "ready_for_board"
    consensus = board.post(
        f"/cases/{case_id}/consensus",
        {
            "summary": "Grade 3 invasive ductal carcinoma; plan unchanged.",
            "diagnosis": {"histologic_type": "invasive_ductal", "grade": 3},
            "recommendations": "Consider Oncotype DX before deciding on chemotherapy.",
        },
    )
    assert consensus.status_code == 201, consensus.text
    assert board.post(f"/cases/{case_id}/release").status_code == 200

    pdf = api.get(f"/cases/{case_id}/second-opinion.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert api.post(f"/cases/{case_id}/acknowledge").json()["status"] == "acknowledged"

    final = api.get(f"/cases/{case_id}").json()
    assert [e["to"] for e in final["timeline"]] == [
        "draft",
        "submitted",
        "in_review",
        "ready_for_board",
        "consensus",
        "reported",
        "acknowledged",
    ]
    assert final["consensus"]["diagnosis"] == {"histologic_type": "invasive_ductal", "grade": 3}
    assert {r["diagnosis"]["verdict"] for r in final["reviews"]} == {"concur", "differ"}
    wait_until(
        lambda: any(m["To"] == referrer.email for m in stack.mail.messages),
        what="the referrer's release email",
    )
