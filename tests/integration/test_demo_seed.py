"""`make run` seeds a demo world once; it must show every role something to do."""

from __future__ import annotations

from sqlalchemy import func, select

from board.auth.models import User
from board.cases.models import Case
from board.demo_seed import ACCOUNTS, seed
from board.extensions import db
from board.reviews.models import Assignment


def test_the_demo_has_one_account_per_role_and_cases_in_several_statuses(ctx):
    assert seed("demo-password-for-tests") is True
    emails = set(db.session.scalars(select(User.email)))
    assert emails == {email for email, *_ in ACCOUNTS}
    statuses = dict(db.session.execute(select(Case.patient_mrn, Case.status)).tuples().all())
    assert statuses == {
        "DEMO-1001": "draft",
        "DEMO-1002": "in_review",
        "DEMO-2001": "unroutable",
        "DEMO-1003": "ready_for_board",
        "DEMO-1004": "reported",
    }
    # Every reviewer account has at least one assignment to look at.
    reviewers_with_work = set(
        db.session.scalars(select(User.email).join(Assignment, Assignment.reviewer_id == User.id))
    )
    assert reviewers_with_work == {
        "pathologist@demo.test",
        "surgeon@demo.test",
        "medonc@demo.test",
        "radiologist@demo.test",
        "plastic@demo.test",
    }


def test_seeding_twice_changes_nothing(ctx):
    seed("demo-password-for-tests")
    cases_before = db.session.scalar(select(func.count()).select_from(Case))
    assert seed("demo-password-for-tests") is False
    assert db.session.scalar(select(func.count()).select_from(Case)) == cases_before


def test_the_demo_shows_a_stage_the_board_disagrees_with(ctx):
    from board.cases.stage_check import check_stage

    seed("demo-password-for-tests")
    flagged = {
        case.patient_mrn: [
            (f.submitted, f.computed) for f in check_stage(case.stage, case.diagnosis).flags
        ]
        for case in db.session.scalars(select(Case))
    }
    assert flagged["DEMO-1002"] == [("IIA", "IB")]
    assert all(flags == [] for mrn, flags in flagged.items() if mrn != "DEMO-1002")
