"""The analytics dashboard on a small board whose every verdict is known, seeded through
the real services: the figures are checked exactly, by hand.

The board (all cases after biopsy; every case submitted at T0, the last two at T1):

    case  referrer     reviews (diagnosis / plan)                          released
    C1    home         primary concur/concur, additional concur/concur     T0 + 2 d
    C2    home         primary concur/concur, additional concur/concur     T0 + 4 d
    C3    home         primary MAJOR/concur,  additional MAJOR/concur      T0 + 6 d
    C4    home         primary concur/concur, additional MAJOR/concur      no
    C5    other inst.  pathology concur/concur, medonc concur/minor,
                       radonc concur/concur                                T1 + 8 d
    C6    other inst.  pathology concur/concur, medonc concur/MAJOR,
                       radonc concur/MAJOR                                 T1 + 10 d
    C7    home         routed, never reviewed (its assignment is overdue)  no

Stage: every review concurs.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import time_machine
from flask_migrate import downgrade, upgrade
from sqlalchemy import event, func, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import selectinload

from board.audit.models import AuditEvent
from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings import services as meetings
from board.board_meetings.schemas import ConsensusInput
from board.cases import services as cases
from board.cases.models import Case
from board.cases.schemas import CaseInput
from board.concordance import services as analytics
from board.concordance import stats, summaries
from board.concordance.services import Filters
from board.errors import Conflict, NotFound
from board.extensions import db
from board.reviews import services as reviews
from board.reviews import tie_breaks
from board.reviews.models import Assignment, Review, ReviewVerdict
from board.reviews.schemas import ReviewInput
from board.routing.services import route_case
from board.validation import InvalidInput, parse
from tests.integration.test_migrations import scratch_postgres  # noqa: F401  (a fixture)
from tests.support import factories as f
from tests.support.api import Api, sign_in
from tests.support.services import DATABASE_URL, RECORDS_KEY

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(days=40)
DAY = dt.timedelta(days=1)
# The revision before the verdict summaries (migrations/versions/*_e5verdictsum01_*).
BEFORE_SUMMARIES = "e6recordstore01"


def differ(severity: str, *reasons: str) -> dict[str, Any]:
    return {
        "verdict": "differ",
        "severity": severity,
        "alternative": "The reviewer's reading, in words.",
        "rationale": "See the slides.",
        "reasons": list(reasons),
    }


class Board:
    def __init__(self) -> None:
        home = f.institution("Home Oncology")
        self.other = f.institution("Coastal Cancer Institute")
        self.people = {
            "referrer": f.user(Role.REFERRER, home),
            "other_referrer": f.user(Role.REFERRER, self.other),
            "pathologist": f.user(Role.PATHOLOGIST, f.institution("Away")),
            "second_pathologist": f.user(Role.PATHOLOGIST, f.institution("Far")),
            "medonc": f.user(Role.MEDICAL_ONCOLOGIST, f.institution("Oncology")),
            "radonc": f.user(Role.RADIATION_ONCOLOGIST, f.institution("Radiation")),
            "coordinator": f.user(Role.COORDINATOR, f.institution("Board")),
            "admin": f.user(Role.ADMIN, f.institution("Admin")),
        }
        self.ids = {name: user.id for name, user in self.people.items()}
        self.cases: dict[str, int] = {}

    def user(self, who: str) -> User:
        found = db.session.get(User, self.ids[who])
        assert found is not None
        return found

    def submitted(self, who: str, specialties: list[str] | None = None) -> int:
        referrer = self.user(who)
        data = parse(CaseInput, f.case_body(requested_specialties=specialties or []))
        case_id = cases.create_draft(referrer, data).id
        cases.add_record(
            referrer, case_id, kind="pathology_report", filename="core.pdf", data=f.pdf()
        )
        cases.submit(self.user(who), case_id)
        route_case(case_id)
        return case_id

    def assignment(self, case_id: int, specialty: str, purpose: str = "primary") -> Assignment:
        found = db.session.scalar(
            select(Assignment).where(
                Assignment.case_id == case_id,
                Assignment.specialty == specialty,
                Assignment.purpose == purpose,
            )
        )
        assert found is not None, (case_id, specialty, purpose)
        return found

    def add_second_reader(self, case_id: int) -> None:
        primary = self.assignment(case_id, "pathology").reviewer_id
        other = next(
            self.ids[w] for w in ("pathologist", "second_pathologist") if self.ids[w] != primary
        )
        reviews.assign_by_hand(self.user("coordinator"), case_id, other)

    def review(self, case_id: int, specialty: str, purpose: str = "primary", **verdicts: Any):
        assignment = self.assignment(case_id, specialty, purpose)
        reviewer = db.session.get(User, assignment.reviewer_id)
        assert reviewer is not None
        reviews.submit_review(
            reviewer, assignment.id, parse(ReviewInput, f.review_body(**verdicts))
        )

    def release(self, case_id: int) -> None:
        coordinator = self.user("coordinator")
        meetings.record_consensus(
            coordinator, case_id, parse(ConsensusInput, {"summary": "The board's view."})
        )
        meetings.release(coordinator, case_id)


def seed_board() -> Board:
    b = Board()
    pairs = {
        "C1": ({}, {}),
        "C2": ({}, {}),
        "C3": (
            {"diagnosis": differ("major", "histologic_type")},
            {"diagnosis": differ("major", "histologic_type", "her2")},
        ),
        "C4": ({}, {"diagnosis": differ("major", "grade")}),
    }
    with time_machine.travel(T0, tick=False):
        for name, (primary, additional) in pairs.items():
            case_id = b.submitted("referrer")
            b.add_second_reader(case_id)
            b.review(case_id, "pathology", "primary", **primary)
            b.review(case_id, "pathology", "additional", **additional)
            b.cases[name] = case_id
        b.cases["C7"] = b.submitted("referrer")
    for name, days in (("C1", 2), ("C2", 4), ("C3", 6)):
        with time_machine.travel(T0 + days * DAY, tick=False):
            b.release(b.cases[name])

    both = ["medical_oncology", "radiation_oncology"]
    with time_machine.travel(T1, tick=False):
        b.cases["C5"] = c5 = b.submitted("other_referrer", both)
        b.review(c5, "pathology")
        b.review(c5, "medical_oncology", plan=differ("minor", "systemic_therapy"))
        b.review(c5, "radiation_oncology")
        b.cases["C6"] = c6 = b.submitted("other_referrer", both)
        b.review(c6, "pathology")
        b.review(c6, "medical_oncology", plan=differ("major", "systemic_therapy", "surgery_choice"))
        b.review(c6, "radiation_oncology", plan=differ("major", "radiation"))
    with time_machine.travel(T1 + 8 * DAY, tick=False):
        b.release(c5)
    with time_machine.travel(T1 + 10 * DAY, tick=False):
        b.release(c6)
    return b


@pytest.fixture
def board(ctx) -> Board:
    return seed_board()


def shares(s) -> tuple[float | None, float | None, float | None, int]:
    return (s.concur.value, s.minor.value, s.major.value, s.n)


def by_dimension(d, attribute: str) -> dict[str, Any]:
    return {item.dimension: getattr(item, attribute) for item in d.concordance}


def test_concordance_is_counted_per_review_and_per_case(board):
    d = analytics.dashboard(board.user("coordinator"), Filters())
    assert (d.cases, d.reviews) == (7, 14)
    per_review = {k: shares(v) for k, v in by_dimension(d, "per_review").items()}
    per_case = {k: shares(v) for k, v in by_dimension(d, "per_case").items()}
    assert per_review == {
        "diagnosis": (pytest.approx(11 / 14), 0.0, pytest.approx(3 / 14), 14),
        "stage": (1.0, 0.0, 0.0, 14),
        "plan": (pytest.approx(11 / 14), pytest.approx(1 / 14), pytest.approx(2 / 14), 14),
    }
    # C7 has no signed review: six cases carry verdicts.
    assert per_case == {
        "diagnosis": (pytest.approx(4 / 6), 0.0, pytest.approx(2 / 6), 6),
        "stage": (1.0, 0.0, 0.0, 6),
        "plan": (pytest.approx(4 / 6), pytest.approx(1 / 6), pytest.approx(1 / 6), 6),
    }
    # Wilson interval for 2 of 6 (hand-computed): 0.0968 to 0.7000.
    major = by_dimension(d, "per_case")["diagnosis"].major
    assert (round(major.low, 3), round(major.high, 3)) == (0.097, 0.7)


def test_the_most_frequent_differ_reasons_come_first(board):
    d = analytics.dashboard(board.user("coordinator"), Filters())
    assert d.differ_verdicts == 6
    found = [(r.reason, r.count) for r in d.reasons]
    assert found == [
        ("histologic_type", 2),
        ("systemic_therapy", 2),
        ("grade", 1),
        ("her2", 1),
        ("radiation", 1),
        ("surgery_choice", 1),
    ]
    assert d.reasons[0].share.value == pytest.approx(2 / 6)
    assert d.reasons[0].by_dimension == {"diagnosis": 2}


def test_cohen_kappa_pairs_the_primary_reviewer_with_the_second_reader(board):
    d = analytics.dashboard(board.user("coordinator"), Filters())
    agreement = {a.dimension: a for a in d.agreement}
    # Diagnosis pairs: (concur, concur) x2, (major, major), (concur, major).
    # po = 3/4, pe = 3/4 * 1/2 + 1/4 * 1/2 = 1/2, kappa = 1/2; by hand (Fleiss, Cohen &
    # Everitt 1969) the variance is 0.140625, SE 0.375, interval 0.5 -/+ 0.735.
    cohen = agreement["diagnosis"].cohen
    assert (cohen.n, round(cohen.value, 3), round(cohen.se, 3)) == (4, 0.5, 0.375)
    assert (round(cohen.low, 3), cohen.high) == (-0.235, 1.0)
    # Every pair concurs on the stage and the plan: chance agreement is 1, kappa undefined.
    for dimension in ("stage", "plan"):
        undefined = agreement[dimension].cohen
        assert (undefined.value, undefined.observed, undefined.n) == (None, 1.0, 4)
        assert "undefined" in undefined.note


def test_fleiss_kappa_takes_the_cases_with_three_reviews(board):
    d = analytics.dashboard(board.user("coordinator"), Filters())
    fleiss = {a.dimension: a.fleiss for a in d.agreement}
    # Plan, subjects C5 (concur, minor, concur) and C6 (concur, major, major): P = 1/3,
    # Pe = (1/2)^2 + (1/6)^2 + (1/3)^2 = 7/18, kappa = (1/3 - 7/18) / (11/18) = -1/11.
    plan = fleiss["plan"]
    assert (plan.n, plan.raters, round(plan.value, 3)) == (2, 3, -0.091)
    # SE0 = sqrt(2 / (2*3*2)) * sqrt((11/18)^2 - 1/6) / (11/18) = 0.3038.
    assert (round(plan.se, 3), round(plan.low, 3), round(plan.high, 3)) == (0.304, -0.686, 0.505)
    assert fleiss["diagnosis"].value is None and fleiss["diagnosis"].observed == 1.0


def test_turnaround_runs_from_submission_to_release(board):
    t = analytics.dashboard(board.user("coordinator"), Filters()).turnaround
    # Released after 2, 4, 6, 8 and 10 days: median 6; 90th percentile 8 + 0.6 * 2 = 9.2.
    assert t.released == 5
    assert t.median_days.value == pytest.approx(6.0)
    assert t.p90_days.value == pytest.approx(9.2)
    # Due after 7 days: three of the five came back in time.
    assert (t.by_due_date.value, t.by_due_date.n) == (pytest.approx(3 / 5), 5)


def test_overdue_assignments_and_workload_per_reviewer(board):
    d = analytics.dashboard(board.user("coordinator"), Filters())
    assert (d.open_assignments, d.overdue_assignments) == (1, 1)
    load = {w.reviewer_id: (w.open, w.overdue, w.completed) for w in d.workload}
    assert load[board.ids["medonc"]] == (0, 0, 2)
    assert load[board.ids["radonc"]] == (0, 0, 2)
    pathologists = [load[board.ids[w]] for w in ("pathologist", "second_pathologist")]
    assert sum(completed for _, _, completed in pathologists) == 10
    assert sorted((open_, overdue) for open_, overdue, _ in pathologists) == [(0, 0), (1, 1)]
    assert d.workload[0].overdue == 1  # the reviewer to chase comes first


def test_major_change_rates_sit_beside_the_published_ranges(board):
    d = analytics.dashboard(board.user("coordinator"), Filters())
    pathology, plan = d.benchmarks
    # Pathology: C3 and C4 of the six cases with a pathology review differ major on diagnosis.
    assert (pathology.rate.value, pathology.rate.n) == (pytest.approx(2 / 6), 6)
    assert (pathology.published.low, pathology.published.high) == (0.06, 0.16)
    assert pathology.comparison.position == "above"
    assert "discordance" in pathology.published.label
    # Plan: only C6 has a major plan discordance.
    assert (plan.rate.value, plan.rate.n) == (pytest.approx(1 / 6), 6)
    assert plan.comparison.position == "below"
    # 1 of 6 is a wide interval (3.0% to 56.4%): it reaches into 41-52%, and says so.
    assert plan.comparison.overlaps is True
    assert plan.comparison.sentence == (
        "The board's rate, 16.7% (95% interval 3.0% to 56.4%, 6 cases), is below the "
        "published range of 41 to 52%; its interval overlaps that range, so the difference "
        "may be chance."
    )
    assert all(b.published.sources for b in d.benchmarks)


def test_implementation_rate_waits_for_recorded_outcomes(board):
    implementation = analytics.dashboard(board.user("coordinator"), Filters()).implementation
    assert (implementation.fully, implementation.partly, implementation.not_implemented) == (
        0,
        0,
        0,
    )
    assert implementation.rate.value is None
    assert "No outcomes recorded yet" in implementation.note


def test_implementation_counts_the_outcomes_referrers_recorded(board):
    case_ids = list(board.cases.values())[:3]
    for case_id, (outcome, note) in zip(
        case_ids, [("fully", None), ("partly", "No radiation"), ("not", "Declined")], strict=True
    ):
        found = db.session.get(Case, case_id)
        assert found is not None
        found.implementation, found.implementation_note = outcome, note
    db.session.commit()
    implementation = analytics.dashboard(board.user("coordinator"), Filters()).implementation
    assert (implementation.fully, implementation.partly, implementation.not_implemented) == (
        1,
        1,
        1,
    )
    assert (implementation.rate.value, implementation.rate.n) == (pytest.approx(2 / 3), 3)
    assert "3 recorded outcomes" in implementation.note


def test_the_institution_filter_keeps_only_that_referrer_institutions_cases(board):
    d = analytics.dashboard(board.user("coordinator"), Filters(institution_id=board.other.id))
    assert (d.cases, d.reviews) == (2, 6)
    assert shares(by_dimension(d, "per_case")["plan"]) == (0.0, 0.5, 0.5, 2)
    assert {a.dimension: a.cohen.n for a in d.agreement} == {"diagnosis": 0, "stage": 0, "plan": 0}
    assert "no case in this selection has an additional reader" in d.agreement[0].cohen.note
    assert d.turnaround.median_days.value == pytest.approx(9.0)


def test_the_period_filter_is_on_the_submission_date_both_days_included(board):
    first = Filters(date_from=T0.date(), date_to=T0.date())
    d = analytics.dashboard(board.user("coordinator"), first)
    assert (d.cases, d.reviews, d.turnaround.released) == (5, 8, 3)
    later = analytics.dashboard(board.user("coordinator"), Filters(date_from=T1.date()))
    assert (later.cases, later.reviews) == (2, 6)


def test_the_specialty_filter_keeps_only_that_specialtys_reviews(board):
    d = analytics.dashboard(board.user("coordinator"), Filters(specialty="medical_oncology"))
    assert (d.cases, d.reviews) == (2, 2)
    assert shares(by_dimension(d, "per_review")["plan"]) == (0.0, 0.5, 0.5, 2)
    assert d.benchmarks[0].rate.value is None  # no pathology review in this selection
    assert [r.reason for r in d.reasons] == ["systemic_therapy", "surgery_choice"]
    assert [w.reviewer_id for w in d.workload] == [board.ids["medonc"]]


def test_the_timepoint_filter_can_leave_nothing_to_count(board):
    d = analytics.dashboard(board.user("coordinator"), Filters(timepoint="pre_surgery"))
    assert (d.cases, d.reviews, d.differ_verdicts) == (0, 0, 0)
    assert all(c.per_review.concur.value is None for c in d.concordance)
    assert d.turnaround.median_days.value is None
    assert "no second opinion released" in d.turnaround.median_days.note
    assert "three or more signed reviews" in d.agreement[0].fleiss.note


def test_filters_are_read_from_the_query_string_and_refused_with_reasons():
    parsed = analytics.parse_filters(
        {"from": "2026-03-01", "to": "2026-03-31", "timepoint": "post_biopsy", "institution": "4"}
    )
    assert parsed == Filters(dt.date(2026, 3, 1), dt.date(2026, 3, 31), "post_biopsy", None, 4)
    assert analytics.parse_filters({"from": "", "specialty": ""}) == Filters()
    with pytest.raises(InvalidInput) as refused:
        analytics.parse_filters(
            {"from": "March", "timepoint": "later", "specialty": "x", "institution": "a"}
        )
    assert [e.field for e in refused.value.errors] == [
        "from",
        "timepoint",
        "specialty",
        "institution",
    ]
    with pytest.raises(InvalidInput) as backwards:
        analytics.parse_filters({"from": "2026-03-31", "to": "2026-03-01"})
    assert [e.field for e in backwards.value.errors] == ["to"]


@pytest.mark.parametrize("who", ["referrer", "pathologist", "medonc"])
def test_only_coordinators_and_administrators_see_analytics(board, who):
    with pytest.raises(NotFound):
        analytics.dashboard(board.user(who), Filters())


def test_administrators_see_the_same_figures(board):
    d = analytics.dashboard(board.user("admin"), Filters())
    assert (d.cases, d.reviews) == (7, 14)


def test_reading_the_analytics_is_audited(board):
    analytics.dashboard(board.user("coordinator"), Filters())
    analytics.dashboard(board.user("admin"), Filters(), action="analytics_export")
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.like("analytics_%")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_role, e.object_type) for e in events] == [
        ("analytics_view", "coordinator", "analytics"),
        ("analytics_export", "admin", "analytics"),
    ]


def test_the_csv_has_one_row_per_figure(client, board):
    coordinator = board.people["coordinator"]
    login = sign_in(client, coordinator.email)
    assert login.status_code == 302
    response = client.get("/analytics.csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["figure", "grouping", "value", "low", "high", "n", "note"]
    found = {(r["figure"], r["grouping"]): r for r in rows}
    assert found[("cases", "")]["value"] == "7"
    major = found[("concordance_per_case", "diagnosis: major")]
    assert (major["value"], major["n"]) == ("0.333333", "6")
    kappa = found[("cohen_kappa", "diagnosis")]
    assert (kappa["value"], kappa["high"], kappa["n"]) == ("0.5", "1", "4")
    assert round(float(kappa["low"]), 3) == -0.235
    assert found[("turnaround_median_days", "submission to release")]["value"] == "6"
    assert found[("pathology_major_change", "published range")]["low"] == "0.06"
    assert "Kennecke" in found[("pathology_major_change", "published range")]["note"]
    narrowed = client.get(f"/analytics.csv?institution={board.other.id}")
    assert {r["figure"]: r["value"] for r in csv.DictReader(io.StringIO(narrowed.text))}[
        "cases"
    ] == "2"


def test_the_api_serves_the_figures_to_coordinators_only(client, board):
    coordinator = Api(client, board.people["coordinator"].email)
    response = coordinator.get("/analytics?specialty=pathology")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["filters"] == {"specialty": "pathology"}
    assert body["cases"] == 7
    assert {r["figure"] for r in body["figures"]} >= {"cohen_kappa", "turnaround_p90_days"}
    diagnosis = next(a for a in body["agreement"] if a["dimension"] == "diagnosis")
    assert diagnosis["cohen"]["value"] == pytest.approx(0.5)
    refused = coordinator.get("/analytics?from=yesterday")
    assert refused.status_code == 422
    assert refused.get_json()["details"][0]["field"] == "from"
    referrer = Api(client, board.people["referrer"].email)
    assert referrer.get("/analytics").status_code == 404


@contextmanager
def another_board(database_url: str, **config: Any) -> Iterator[None]:
    """An app of the board on another database, inside its context, with nothing sent
    out. Building an app makes its Celery instance the process default, so the
    previous default is put back."""
    from celery import _state as celery_state

    from board import create_app

    default, current = celery_state.default_app, getattr(celery_state._tls, "current_app", None)
    records_dir = tempfile.mkdtemp(prefix="board-records-")
    other = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "OUTBOX_PUBLISH_ON_COMMIT": False,
            "MAIL_PORT": 1,
            "RECORDS_DIR": records_dir,
            "RECORDS_KEY": RECORDS_KEY,
            **config,
        }
    )
    try:
        with other.app_context():
            yield
            db.session.remove()
            db.engine.dispose()
    finally:
        celery_state.set_default_app(default)
        celery_state._set_current_app(current)
        shutil.rmtree(records_dir, ignore_errors=True)


def test_the_figures_are_read_from_the_analytics_replica_when_one_is_configured(board):
    """FLASK_ANALYTICS_DATABASE_URL points the dashboard's queries at a replica. Here the
    "replica" is the same database through read-only transactions (what a hot standby
    allows): the figures are the same, every aggregate runs on that engine and none on
    the primary, and the audit row of the read is written to the primary."""
    expected = analytics.dashboard(board.user("coordinator"), Filters())
    coordinator_id = board.user("coordinator").id
    db.session.commit()
    read_only = make_url(DATABASE_URL).update_query_dict(
        {"options": "-c default_transaction_read_only=on"}
    )
    replica_url = read_only.render_as_string(hide_password=False)
    with another_board(DATABASE_URL, ANALYTICS_DATABASE_URL=replica_url):
        assert set(db.engines) == {None, "analytics"}
        ran: dict[str | None, list[str]] = {None: [], "analytics": []}
        for key, engine in db.engines.items():
            event.listen(
                engine,
                "before_cursor_execute",
                lambda *a, key=key, **_: ran[key].append(a[2].split()[0].upper()),
            )
        coordinator = db.session.get_one(User, coordinator_id)
        got = analytics.dashboard(coordinator, Filters())
        db.session.commit()  # the audit row: refused if it went to the read-only engine
    assert dataclasses.replace(got, generated_at=expected.generated_at) == expected
    assert ran["analytics"].count("SELECT") == 5  # the dashboard's five queries
    assert "INSERT" not in ran["analytics"]
    assert ran[None].count("INSERT") == 1  # the audit row
    reads = db.session.scalars(
        select(AuditEvent.actor_id).where(AuditEvent.action == "analytics_view")
    ).all()
    assert reads == [coordinator_id, coordinator_id]


def test_the_embedded_sqlite_mode_gives_the_same_figures(tmp_path):
    """SQLite has no percentile_cont and no jsonb: the turnaround comes from one ordered
    column of durations and the reasons from json_each, with the same answers."""
    with another_board(f"sqlite:///{tmp_path / 'board.sqlite'}"):
        upgrade()
        b = seed_board()
        d = analytics.dashboard(b.user("coordinator"), Filters())
        assert (d.cases, d.reviews, d.differ_verdicts) == (7, 14, 6)
        assert d.turnaround.median_days.value == pytest.approx(6.0)
        assert d.turnaround.p90_days.value == pytest.approx(9.2)
        assert [(r.reason, r.count) for r in d.reasons][:2] == [
            ("histologic_type", 2),
            ("systemic_therapy", 2),
        ]
        cohen = next(a.cohen for a in d.agreement if a.dimension == "diagnosis")
        assert round(cohen.value, 3) == 0.5
        later = analytics.dashboard(b.user("coordinator"), Filters(date_from=T1.date()))
        assert (later.cases, later.reviews) == (2, 6)
        assert (later.overdue_assignments, d.overdue_assignments) == (0, 1)
        assert stored_summaries() == recounted_summaries()


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
def test_the_migration_backfills_the_summaries_the_signing_service_keeps(engine, tmp_path, request):
    """Reviews signed before the summaries existed are counted by the migration that
    adds them (e5verdictsum01), to the same rows the service writes."""
    if engine == "postgresql":
        url = request.getfixturevalue("scratch_postgres")
    else:
        url = f"sqlite:///{tmp_path / 'board.sqlite'}"
    with another_board(url):
        upgrade()
        seed_board()
        kept = stored_summaries()
        assert kept == recounted_summaries()
        assert len(kept["differ_reason_summaries"]) == 7
        db.session.commit()  # Alembic migrates on a connection of its own
        downgrade(revision=BEFORE_SUMMARIES)
        assert "case_verdict_summaries" not in inspect(db.engine).get_table_names()
        upgrade()
        assert stored_summaries() == kept


# --- The verdict summaries against a recount from the reviews ------------------------
#
# The dashboard reads per-case summaries that the review signing service keeps
# (board.concordance.summaries). These tests recount everything from the signed
# reviews in plain Python, independently of that SQL, and compare: the stored rows
# after every kind of change, and the dashboard's figures under every filter.

LEVEL = {"concur": 0, "minor": 1, "major": 2}


def level_of(verdict: ReviewVerdict) -> int:
    if verdict.verdict == "concur":
        return 0
    return LEVEL["major"] if verdict.severity == "major" else LEVEL["minor"]


def signed_reviews() -> list[Review]:
    return list(
        db.session.scalars(
            select(Review).options(selectinload(Review.verdicts), selectinload(Review.assignment))
        )
    )


def recounted_summaries() -> dict[str, list[tuple[Any, ...]]]:
    """The three summary tables' rows, recounted in Python from the signed reviews."""
    names = [f"{d}_{level}" for d in analytics.DIMENSIONS for level in analytics.LEVELS]
    per_specialty: dict[tuple[int, str], dict[str, Any]] = {}
    reasons: Counter[tuple[int, str, str, str]] = Counter()
    for review in signed_reviews():
        key = (review.case_id, review.assignment.specialty)
        row = per_specialty.setdefault(
            key,
            {
                **{n: 0 for n in names},
                **{f"primary_{d}": None for d in analytics.DIMENSIONS},
                "additional_reviews": 0,
                **{f"additional_{n}": 0 for n in names},
            },
        )
        purpose = review.assignment.purpose
        row["additional_reviews"] += purpose == "additional"
        for verdict in review.verdicts:
            name = f"{verdict.dimension}_{analytics.LEVELS[level_of(verdict)]}"
            row[name] += 1
            if purpose == "primary":
                row[f"primary_{verdict.dimension}"] = level_of(verdict)
            if purpose == "additional":
                row[f"additional_{name}"] += 1
            if verdict.verdict == "differ":
                for reason in verdict.reasons:
                    reasons[(*key, verdict.dimension, reason)] += 1
    per_case: dict[int, dict[str, Any]] = {}
    for (case_id, specialty), row in per_specialty.items():
        total = per_case.setdefault(case_id, {**{n: 0 for n in names}, "pathology": None})
        for n in names:
            total[n] += row[n]
        if specialty == "pathology":
            levels = [i for i, level in enumerate(analytics.LEVELS) if row[f"diagnosis_{level}"]]
            total["pathology"] = max(levels, default=None)
    specialty_columns = [c.name for c in summaries.SpecialtyVerdictSummary.__table__.c][2:]
    return {
        "case_verdict_summaries": sorted(
            (case_id, *(row[n] for n in names), row["pathology"])
            for case_id, row in per_case.items()
        ),
        "specialty_verdict_summaries": sorted(
            (*key, *(row[c] for c in specialty_columns)) for key, row in per_specialty.items()
        ),
        "differ_reason_summaries": sorted((*key, n) for key, n in reasons.items()),
    }


def stored_summaries() -> dict[str, list[tuple[Any, ...]]]:
    return {
        model.__tablename__: sorted(
            tuple(row) for row in db.session.execute(select(*model.__table__.c)).all()
        )
        for model in summaries.SUMMARIES
    }


def assert_summaries_are_recounts() -> dict[str, list[tuple[Any, ...]]]:
    stored = stored_summaries()
    assert stored == recounted_summaries()
    # rebuild() (the benchmark's, after seeding in SQL) writes the same rows.
    nested = db.session.begin_nested()
    summaries.rebuild()
    assert stored_summaries() == stored
    nested.rollback()
    return stored


def in_selection(case: Case, specialty: str, filters: Filters) -> bool:
    submitted = case.submitted_at
    if submitted is None:
        return False
    if filters.date_from and submitted.date() < filters.date_from:
        return False
    if filters.date_to and submitted.date() > filters.date_to:
        return False
    if filters.timepoint and case.timepoint != filters.timepoint:
        return False
    if filters.institution_id is not None and case.institution_id != filters.institution_id:
        return False
    return not filters.specialty or specialty == filters.specialty


def assert_figures_are_recounts(filters: Filters) -> None:
    """The dashboard's verdict figures equal the same statistics of a Python recount
    of the signed reviews in the selection: every count exactly, every kappa to the
    last digit (the same stats functions, given the same counts)."""
    d = analytics.compute(filters)
    cases = {c.id: c for c in db.session.scalars(select(Case))}
    counts: dict[int, dict[str, list[int]]] = {}
    pathology: dict[int, int] = {}
    reasons: dict[str, Counter[str]] = {}
    readers: dict[tuple[int, str], list[tuple[str, dict[str, int]]]] = {}
    for review in signed_reviews():
        specialty = review.assignment.specialty
        if not in_selection(cases[review.case_id], specialty, filters):
            continue
        levels = {v.dimension: level_of(v) for v in review.verdicts}
        per_case = counts.setdefault(review.case_id, {})
        for dimension, level in levels.items():
            per_case.setdefault(dimension, [0, 0, 0])[level] += 1
        if specialty == "pathology" and "diagnosis" in levels:
            worst = max(pathology.get(review.case_id, 0), levels["diagnosis"])
            pathology[review.case_id] = worst
        for verdict in review.verdicts:
            for reason in verdict.reasons if verdict.verdict == "differ" else []:
                reasons.setdefault(reason, Counter())[verdict.dimension] += 1
        readers.setdefault((review.case_id, specialty), []).append(
            (review.assignment.purpose, levels)
        )
    for i, dimension in enumerate(analytics.DIMENSIONS):
        per_review: Counter[str] = Counter()
        per_case_levels: Counter[str] = Counter()
        profiles: Counter[tuple[int, ...]] = Counter()
        for by_dimension in counts.values():
            if dimension not in by_dimension:
                continue
            n = by_dimension[dimension]
            for level, count in zip(analytics.LEVELS, n, strict=True):
                per_review[level] += count
            per_case_levels[analytics.LEVELS[max(j for j in range(3) if n[j])]] += 1
            if sum(n) >= 3:
                profiles[tuple(n)] += 1
        pairs: Counter[tuple[str, str]] = Counter()
        for reviews_of_specialty in readers.values():
            for purpose, first in reviews_of_specialty:
                for other, second in reviews_of_specialty:
                    paired = (purpose, other) == ("primary", "additional")
                    if paired and dimension in first and dimension in second:
                        levels = (first[dimension], second[dimension])
                        pairs[tuple(analytics.LEVELS[j] for j in levels)] += 1
        concordance = d.concordance[i]
        assert concordance.dimension == dimension
        assert concordance.per_review == analytics.LevelShares.of(per_review)
        assert concordance.per_case == analytics.LevelShares.of(per_case_levels)
        assert d.agreement[i].cohen == analytics._cohen(pairs)
        assert d.agreement[i].fleiss == analytics._fleiss(profiles)
    majors = sum(1 for worst in pathology.values() if worst == 2)
    assert d.benchmarks[0].rate == stats.proportion(majors, len(pathology))
    found = {r.reason: (r.count, dict(r.by_dimension)) for r in d.reasons}
    assert found == {r: (sum(c.values()), dict(c)) for r, c in reasons.items()}


def selections(b: Board) -> list[Filters]:
    both_days = Filters(date_from=T0.date(), date_to=T0.date())
    return [
        Filters(),
        both_days,
        Filters(date_from=T1.date()),
        Filters(date_to=T0.date() + DAY),
        Filters(timepoint="post_biopsy"),
        Filters(timepoint="pre_surgery"),
        Filters(institution_id=b.other.id),
        Filters(specialty="pathology"),
        Filters(specialty="medical_oncology"),
        Filters(specialty="radiation_oncology"),
        Filters(specialty="pathology", institution_id=b.other.id),
        Filters(specialty="pathology", date_from=T0.date(), date_to=T0.date()),
    ]


def test_the_dashboard_figures_equal_a_recount_of_the_signed_reviews_under_every_filter(board):
    assert_summaries_are_recounts()
    for filters in selections(board):
        assert_figures_are_recounts(filters)


def test_the_summaries_stay_recounts_through_signing_tie_breaks_reassignment_and_consensus(
    board,
):
    coordinator = board.user("coordinator")
    third = f.user(Role.PATHOLOGIST, f.institution("Third reader"))
    before = assert_summaries_are_recounts()

    # A pathologist signs the never-reviewed C7: its first summary rows appear.
    c7 = board.cases["C7"]
    with time_machine.travel(T0 + DAY, tick=False):
        board.review(c7, "pathology", diagnosis=differ("major", "grade"))
    after_sign = assert_summaries_are_recounts()
    assert after_sign != before
    (c7_row,) = [r for r in after_sign["case_verdict_summaries"] if r[0] == c7]
    assert c7_row[1:4] == (0, 0, 1) and c7_row[-1] == 2  # diagnosis major, pathology major

    # Signing again is refused and changes nothing.
    signed = board.assignment(c7, "pathology")
    with pytest.raises(Conflict):
        reviews.submit_review(
            db.session.get(User, signed.reviewer_id),
            signed.id,
            parse(ReviewInput, f.review_body()),
        )
    assert assert_summaries_are_recounts() == after_sign

    # A second reader, then a tie-break on the diagnosis they disagree on: the second
    # reader pairs with the primary for Cohen's kappa; the tie-break counts in the
    # profiles (Fleiss) but is never paired.
    board.add_second_reader(c7)
    assert assert_summaries_are_recounts() == after_sign  # an open assignment counts nothing
    board.review(c7, "pathology", "additional", plan=differ("minor", "radiation"))
    tie = tie_breaks.request_tie_break(coordinator, c7, "pathology", "diagnosis", third.id)
    reviews.submit_review(
        db.session.get(User, third.id), tie.id, parse(ReviewInput, f.review_body())
    )
    rows = assert_summaries_are_recounts()
    (pathology,) = [r for r in rows["specialty_verdict_summaries"] if r[0] == c7]
    columns = [c.name for c in summaries.SpecialtyVerdictSummary.__table__.c]
    named = dict(zip(columns, pathology, strict=True))
    assert (named["diagnosis_concur"], named["diagnosis_major"]) == (2, 1)
    assert (named["primary_diagnosis"], named["additional_reviews"]) == (2, 1)
    assert (named["additional_diagnosis_concur"], named["additional_plan_minor"]) == (1, 1)
    for filters in selections(board):
        assert_figures_are_recounts(filters)

    # Reassignment: C5's radiation oncology review is signed; a new case's open
    # pathology assignment goes to the third pathologist, who signs it. The assignment
    # taken away never had a review and counts nothing.
    with time_machine.travel(T1, tick=False):
        c8 = board.submitted("other_referrer")
    open_one = board.assignment(c8, "pathology")
    reviews.reassign(coordinator, open_one.id, third.id)
    assert (
        assert_summaries_are_recounts()["case_verdict_summaries"]
        == (rows["case_verdict_summaries"])
    )
    replacement = db.session.scalar(
        select(Assignment).where(Assignment.case_id == c8, Assignment.reviewer_id == third.id)
    )
    assert replacement is not None
    reviews.submit_review(
        db.session.get(User, third.id),
        replacement.id,
        parse(ReviewInput, f.review_body(stage=differ("minor", "tumour_size"))),
    )
    rows = assert_summaries_are_recounts()
    assert any(r[0] == c8 for r in rows["case_verdict_summaries"])

    # Consensus and release change the case, not what its reviewers said.
    with time_machine.travel(T1 + 3 * DAY, tick=False):
        board.release(c8)
    assert assert_summaries_are_recounts() == rows
    for filters in [*selections(board), Filters(date_from=T1.date(), specialty="pathology")]:
        assert_figures_are_recounts(filters)


def test_recent_figures_are_served_until_they_are_a_cache_period_old(board, app, monkeypatch):
    """Per web worker, the figures of a selection are recomputed at most every
    ANALYTICS_CACHE_SECONDS; each read is still audited; another selection is its own."""
    monkeypatch.setitem(app.config, "ANALYTICS_CACHE_SECONDS", 60)
    monkeypatch.delitem(app.extensions, analytics.CACHE_EXTENSION, raising=False)
    coordinator = board.user("coordinator")
    start = T1 + 20 * DAY
    try:
        with time_machine.travel(start, tick=False):
            first = analytics.dashboard(coordinator, Filters())
        assert (first.cases, first.reviews, first.generated_at) == (7, 14, start)
        board.review(board.cases["C7"], "pathology")
        with time_machine.travel(start + dt.timedelta(seconds=59), tick=False):
            again = analytics.dashboard(coordinator, Filters())
            other = analytics.dashboard(coordinator, Filters(timepoint="post_biopsy"))
        assert again is first  # the same figures: the new review is not in them yet
        assert other.reviews == 15 and other.generated_at == start + dt.timedelta(seconds=59)
        with time_machine.travel(start + dt.timedelta(seconds=60), tick=False):
            fresh = analytics.dashboard(coordinator, Filters())
        assert (fresh.reviews, fresh.generated_at) == (15, start + dt.timedelta(seconds=60))
        reads = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "analytics_view")
        )
        assert reads == 4  # every read audited, served from the cache or not
    finally:
        app.extensions.pop(analytics.CACHE_EXTENSION, None)
