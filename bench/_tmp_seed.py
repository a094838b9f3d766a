"""TEMPORARY (until bench/seed.py lands from the perfdata branch): N drafts through the services."""

from __future__ import annotations

from typing import Any


def seed(database_url: str, cases: int, *, seed: int = 1) -> dict[str, Any]:
    from board import create_app
    from board.auth.roles import Role
    from board.cases import services as case_services
    from board.cases.schemas import CaseInput
    from board.extensions import db
    from board.routing import services as routing
    from board.validation import parse
    from tests.support import factories as f
    from tests.support.services import RECORDS_DIR, RECORDS_KEY

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RECORDS_DIR": str(RECORDS_DIR),
            "RECORDS_KEY": RECORDS_KEY,
            "OUTBOX_PUBLISH_ON_COMMIT": False,
        }
    )
    with app.app_context():
        home = f.institution("Home Oncology")
        away = f.institution("University Breast Center")
        coordinator = f.user(Role.COORDINATOR, away)
        reviewer = f.user(Role.PATHOLOGIST, away)
        reviewer.max_open_assignments = 100_000
        referrer = f.user(Role.REFERRER, home)
        db.session.commit()
        data = parse(CaseInput, f.case_body())
        ids = []
        for i in range(cases):
            ids.append(case_services.new_draft(referrer, data).id)
            if i % 200 == 199:
                db.session.commit()
        db.session.commit()
        pdf = f.pdf()
        for case_id in ids[:20]:
            case_services.add_record(
                referrer, case_id, kind="pathology_report", filename="p.pdf", data=pdf
            )
            case_services.submit(referrer, case_id)
            routing.route_case(case_id)
        db.session.commit()
        who = {
            name: {"email": u.email, "id": u.id}
            for name, u in (
                ("coordinator", coordinator),
                ("reviewer", reviewer),
                ("referrer", referrer),
            )
        }
        return {"cases": cases, "case_id": ids[0], **who}
