"""The case page shows where an HL7 FHIR referral did not fit: its warnings, the history."""

from __future__ import annotations

from pathlib import Path

from board.fhir import services as fhir
from tests.web.test_pages import World

FIXTURES = Path(__file__).parent.parent / "fixtures" / "fhir"


def _import(world: World, name: str) -> int:
    raw = (FIXTURES / f"{name}.json").read_bytes()
    return world.run(lambda: fhir.import_referral(world.user("referrer"), raw).case_id)  # type: ignore[no-any-return]


def test_the_case_page_lists_the_import_warnings_for_the_referrer_and_the_coordinator(world):
    case_id = _import(world, "jenny_pathologic_inconsistent")
    for who in ("referrer", "coordinator"):
        page = world.client(who).get(f"/cases/{case_id}")
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        assert 'id="fhir-warnings"' in html
        assert 'data-code="t_category_size"' in html
        assert "The T category pT2 does not fit the tumour size of 15 mm" in html
        assert 'data-code="stage_summary_differs"' in html
        assert "stage summary is IIA but the stage group observation says IB" in html
        assert 'data-code="stage_group_differs"' in html
        assert "Tumour size in the referral: <strong>15 mm</strong>" in html
        assert "style=" not in html.split('id="fhir-import"')[1].split("</div>")[0]


def test_the_history_of_surgery_and_radiotherapy_is_on_the_case_page(world):
    case_id = _import(world, "anyperson_breast")
    html = world.client("referrer").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="fhir-history"' in html
    assert "Partial mastectomy" in html and "Whole breast radiotherapy" in html


def test_a_case_entered_by_hand_has_no_import_panel(world):
    from board.cases import services as cases
    from board.cases.schemas import CaseInput
    from board.validation import parse
    from tests.support import factories as f

    case_id = world.run(
        lambda: cases.create_draft(world.user("referrer"), parse(CaseInput, f.case_body())).id
    )
    html = world.client("referrer").get(f"/cases/{case_id}").get_data(as_text=True)
    assert 'id="fhir-import"' not in html
