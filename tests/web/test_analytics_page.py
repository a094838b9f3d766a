"""The analytics page: charts drawn as inline SVG with their numbers as text, the
published ranges with their sources, the filter form, and the CSV link."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from board.auth.models import User
from board.cases import services as cases
from board.cases.schemas import CaseInput
from board.extensions import db
from board.reviews import services as reviews
from board.reviews.models import Assignment
from board.reviews.schemas import ReviewInput
from board.routing.services import route_case
from board.validation import parse
from tests.support import factories as f
from tests.web.test_pages import World

MAJOR = {
    "verdict": "differ",
    "severity": "major",
    "alternative": "Invasive lobular carcinoma.",
    "rationale": "E-cadherin negative.",
    "reasons": ["histologic_type"],
}


def _reviewed_case(world: World, **verdicts: Any) -> int:
    """A case after biopsy, routed to the pathologist, who signs the given verdicts."""

    def make() -> int:
        referrer = world.user("referrer")
        case_id = cases.create_draft(referrer, parse(CaseInput, f.case_body())).id
        cases.add_record(
            referrer, case_id, kind="pathology_report", filename="core.pdf", data=f.pdf()
        )
        cases.submit(world.user("referrer"), case_id)
        route_case(case_id)
        assignment = db.session.scalar(select(Assignment).where(Assignment.case_id == case_id))
        assert assignment is not None
        reviewer = db.session.get(User, assignment.reviewer_id)
        assert reviewer is not None
        reviews.submit_review(
            reviewer, assignment.id, parse(ReviewInput, f.review_body(**verdicts))
        )
        return case_id

    return world.run(make)  # type: ignore[no-any-return]


def _visible_text(html: str) -> str:
    main = html.split("<main>", 1)[1]
    return re.sub(r"<[^>]+>", " ", main)


def test_the_coordinator_sees_the_charts_as_inline_svg_with_their_numbers(world):
    _reviewed_case(world, diagnosis=MAJOR)
    _reviewed_case(world)
    page = world.client("coordinator").get("/analytics")
    assert page.status_code == 200
    html = page.text
    # Four kinds of chart, each an image with a title and a description.
    assert html.count('<svg class="chart"') == 3 + 1 + 1 + 2
    assert html.count('role="img"') == html.count("<svg")
    for title in (
        "Diagnosis: concordance per review and per case",
        "The most frequent reasons for discordance",
        "Agreement between reviewers: kappa with 95% intervals",
        "the board beside the published range",
    ):
        assert title in html, title
    # The numbers are there as text too: one of two cases has a major diagnostic discordance.
    assert "concur 50.0% · minor 0.0% · major 50.0% · n = 2" in html
    assert "histologic type" in html and "1 (100.0%)" in html
    assert "published 6%\u201316%" in html and "published 41%\u201352%" in html


def test_the_page_cites_its_sources_and_speaks_of_discordance(world):
    _reviewed_case(world, diagnosis=MAJOR)
    page = world.client("coordinator").get("/analytics")
    html = page.text
    for source in ("Kennecke HF", "Staradub VL", "Romanoff AM", "Breast J. 2014", "Chang JH"):
        assert source in html, source
    assert 'href="https://doi.org/10.1002/cncr.22266"' in html
    text = _visible_text(html).lower()
    assert "discordance" in text
    assert not re.search(r"\berrors?\b", text)


def test_the_filter_form_keeps_its_values_and_the_csv_link_carries_them(world):
    _reviewed_case(world)
    client = world.client("coordinator")
    page = client.get("/analytics?timepoint=post_biopsy&specialty=pathology&from=2020-01-01")
    assert page.status_code == 200
    assert '<option value="post_biopsy" selected>' in page.text
    assert '<option value="pathology" selected>' in page.text
    assert 'value="2020-01-01"' in page.text
    link = re.search(r'href="(/analytics\.csv\?[^"]+)"', page.text)
    assert link is not None
    csv = client.get(link.group(1).replace("&amp;", "&"))
    assert csv.status_code == 200 and csv.text.startswith("figure,grouping,value")


def test_a_filter_that_cannot_be_read_is_shown_beside_its_field(world):
    page = world.client("coordinator").get("/analytics?from=last-week")
    assert page.status_code == 422
    assert "must be a date written as YYYY-MM-DD" in page.text
    assert 'value="last-week"' in page.text
    assert "<svg" not in page.text


def test_the_administrator_has_the_page_in_the_navigation(world):
    page = world.client("admin").get("/analytics")
    assert page.status_code == 200
    assert 'href="/analytics">Analytics</a>' in page.text
    assert "No differ verdict in this selection." in page.text


@pytest.mark.parametrize("who", ["referrer", "pathologist", "medonc"])
def test_everyone_else_gets_a_404_and_no_link(world, who):
    client = world.client(who)
    assert client.get("/analytics").status_code == 404
    assert client.get("/analytics.csv").status_code == 404
    home = client.get("/notifications")
    assert 'href="/analytics"' not in home.text
