"""The pages of the richer clinical model: the grouped case form with medications and
source records, the board's stage check on every page that shows a case, and the
review's reasons, re-testing and computed stage."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from board.auth.models import User
from board.auth.roles import Role
from board.board_meetings import services as meetings
from board.board_meetings.schemas import ConsensusInput
from board.cases import services as cases
from board.cases.models import Case, RecordRequest
from board.cases.schemas import CaseInput
from board.extensions import db
from board.reviews.models import Assignment, Review
from board.validation import FieldError, InvalidInput, parse
from board.web import compact_rows, errors_by_field, flatten, form_data
from tests.support import factories as f
from tests.support.api import sign_in
from tests.web.test_pages import (
    CASE_FORM,
    World,
    _add_pathology,
    _assignment_of,
    _draft,
    _routed,
    _sign,
    _status,
)

FULL_FORM = {
    **CASE_FORM,
    "diagnosis.grade": "",
    "diagnosis.er": "",
    "diagnosis.her2": "",
    "diagnosis.nottingham.tubules": "3",
    "diagnosis.nottingham.pleomorphism": "2",
    "diagnosis.nottingham.mitoses": "2",
    "diagnosis.er_percent": "95",
    "diagnosis.er_intensity": "strong",
    "diagnosis.pr_percent": "40",
    "diagnosis.pr_intensity": "moderate",
    "diagnosis.her2_ihc": "2+",
    "diagnosis.her2_ish_ratio": "1.3",
    "diagnosis.her2_copy_number": "2.9",
    "diagnosis.ki67_percent": "18.5",
    "diagnosis.lymphovascular_invasion": "false",
    "diagnosis.margins": "close",
    "diagnosis.closest_margin_mm": "1.5",
    "diagnosis.nodes_examined": "3",
    "diagnosis.nodes_positive": "0",
    "stage.recurrence_score": "14",
    "stage.anatomic": "IIA",
    "plan.targeted": "",
    # Two medications, in rows 0 and 2: the empty row between them is dropped.
    "plan.medications.0.name": "letrozole",
    "plan.medications.0.dose": "2.5",
    "plan.medications.0.unit": "mg",
    "plan.medications.0.route": "oral",
    "plan.medications.0.frequency": "daily",
    "plan.medications.1.name": "",
    "plan.medications.1.dose": "",
    "plan.medications.2.name": "zoledronic acid",
    "plan.medications.2.dose": "4",
    "plan.medications.2.unit": "mg",
    "plan.medications.2.route": "intravenous",
    "plan.medications.2.frequency": "every 6 months",
}


def _stored(world: World, case_id: int) -> dict[str, Any]:
    def read() -> dict[str, Any]:
        case = db.session.get(Case, case_id)
        assert case is not None
        return {"diagnosis": case.diagnosis, "stage": case.stage, "plan": case.plan}

    return world.run(read)  # type: ignore[no-any-return]


def _created(response: Any) -> int:
    assert response.status_code == 303, response.text
    return int(response.headers["Location"].rsplit("/", 1)[1])


# --- The form helpers (board/web.py) --------------------------------------------------


def test_form_data_builds_rows_of_a_list_of_models_and_drops_empty_rows():
    form = compact_rows(MultiDict(FULL_FORM))
    data = form_data(CaseInput, form)
    assert data["plan"]["medications"] == [
        {"name": "letrozole", "dose": "2.5", "unit": "mg", "route": "oral", "frequency": "daily"},
        {
            "name": "zoledronic acid",
            "dose": "4",
            "unit": "mg",
            "route": "intravenous",
            "frequency": "every 6 months",
        },
    ]
    assert data["diagnosis"]["nottingham"] == {"tubules": "3", "pleomorphism": "2", "mitoses": "2"}
    assert data["requested_specialties"] == ["medical_oncology"]
    # The row that followed an empty one is renumbered, so errors and rows line up.
    assert form["plan.medications.1.name"] == "zoledronic acid"
    assert "plan.medications.2.name" not in form


def test_form_data_reads_a_mapping_and_flatten_gives_the_same_fields_back():
    body = {
        "diagnosis": {
            "grade": 2,
            "sources": {"grade": 7, "er": 8},
            "nottingham": {"tubules": 3, "pleomorphism": 2, "mitoses": 2},
        },
        "plan": {
            "medications": [
                {
                    "name": "letrozole",
                    "dose": 2.5,
                    "unit": "mg",
                    "route": "oral",
                    "frequency": "daily",
                }
            ]
        },
    }
    form = flatten(body)
    assert form["diagnosis.sources.grade"] == "7"
    assert form["plan.medications.0.dose"] == "2.5"
    assert form["diagnosis.nottingham.tubules"] == "3"
    rebuilt = form_data(CaseInput, form)
    assert rebuilt["diagnosis"]["sources"] == {"grade": "7", "er": "8"}
    assert rebuilt["plan"]["medications"][0]["name"] == "letrozole"


def test_an_error_on_a_row_stays_with_its_row_and_one_on_a_list_item_goes_to_the_list():
    errors = errors_by_field(
        [
            FieldError("plan.medications.1.dose", "must be a number"),
            FieldError("requested_specialties.0", "must be one of ..."),
            FieldError("stage.reasons.2", "must be one of ..."),
        ]
    )
    assert errors == {
        "plan.medications.1.dose": "must be a number",
        "requested_specialties": "must be one of ...",
        "stage.reasons": "must be one of ...",
    }


# --- The case form --------------------------------------------------------------------


def test_the_full_case_form_round_trips_the_new_fields_and_two_medications(world):
    client = world.client("referrer")
    form = client.get("/cases/new").text
    for name in (
        "diagnosis.nottingham.tubules",
        "diagnosis.er_percent",
        "diagnosis.er_intensity",
        "diagnosis.her2_ihc",
        "diagnosis.her2_ish_ratio",
        "diagnosis.margins",
        "diagnosis.nodes_positive",
        "stage.clinical_t",
        "stage.pathological_n",
        "stage.recurrence_score",
        "stage.pathological_prognostic",
        "plan.targeted",
        "plan.medications.0.name",
        "plan.medications.2.frequency",
    ):
        assert f'name="{name}"' in form, name
    # Grouped, with the allowed forms under the fields.
    for heading in ("Histology and grade", "Hormone receptors", "HER2", "Nodes and margins"):
        assert heading in form
    assert "AJCC 8th: c, p, yc or yp" in form and "e.g. cT2 or pT1c" in form
    assert "0-100" in form
    # No records yet: no source selects.
    assert "diagnosis.sources.grade" not in form

    case_id = _created(client.post("/cases/new", data=FULL_FORM))
    stored = _stored(world, case_id)
    diagnosis = stored["diagnosis"]
    # What the components imply is filled in: grade 2 (score 7), ER/PR positive, HER2
    # negative (ISH group 5).
    assert diagnosis["grade"] == 2 and diagnosis["nottingham"]["tubules"] == 3
    assert (diagnosis["er"], diagnosis["pr"], diagnosis["her2"]) == (
        "positive",
        "positive",
        "negative",
    )
    assert diagnosis["er_percent"] == 95 and diagnosis["her2_ihc"] == "2+"
    assert diagnosis["lymphovascular_invasion"] is False and diagnosis["margins"] == "close"
    assert stored["stage"]["recurrence_score"] == 14
    assert stored["plan"]["medications"] == [
        {"name": "letrozole", "dose": 2.5, "unit": "mg", "route": "oral", "frequency": "daily"},
        {
            "name": "zoledronic acid",
            "dose": 4.0,
            "unit": "mg",
            "route": "intravenous",
            "frequency": "every 6 months",
        },
    ]

    edit = client.get(f"/cases/{case_id}/edit").text
    assert 'name="plan.medications.1.name" value="zoledronic acid"' in edit
    route = r'name="plan.medications.1.route"[^>]*>.*?value="intravenous" selected'
    assert re.search(route, edit, re.S)
    assert 'name="plan.medications.0.dose" value="2.5"' in edit
    tubules = r'name="diagnosis.nottingham.tubules".*?<option value="3" selected>'
    assert re.search(tubules, edit, re.S)
    assert 'name="diagnosis.er_percent" value="95"' in edit
    # Two filled rows and blank ones to add more.
    assert 'name="plan.medications.3.name" value=""' in edit

    page = client.get(f"/cases/{case_id}").text
    assert "letrozole" in page and "2.5 mg · oral · daily" in page
    assert "tubules 3 · pleomorphism 2 · mitoses 2 (score 7)" in page
    assert "95%" in page

    # Saved again unchanged, the draft is the same.
    resaved = client.post(
        f"/cases/{case_id}/edit", data=MultiDict(list(flatten_form(edit).items(multi=True)))
    )
    assert resaved.status_code == 303
    assert _stored(world, case_id) == stored


def flatten_form(html: str) -> MultiDict[str, str]:
    """The values a browser would send for a rendered form (inputs, selects, textareas,
    checked boxes), enough to save a form again unchanged."""
    out: MultiDict[str, str] = MultiDict()
    for tag in re.findall(r"<input[^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or 'type="file"' in tag:
            continue
        if ('type="checkbox"' in tag or 'type="radio"' in tag) and " checked" not in tag:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        out.add(name.group(1), value.group(1) if value else "")
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body)
        out.add(name, chosen.group(1) if chosen else "")
    for name, body in re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S):
        out.add(name, body)
    return out


def test_a_consistency_error_shows_beside_its_field_and_in_the_summary_with_values_kept(world):
    form = {
        **FULL_FORM,
        # Score 3 + 3 + 3 = 9 is grade 3, not 2; IHC 3+ is positive, not negative.
        "diagnosis.grade": "2",
        "diagnosis.nottingham.pleomorphism": "3",
        "diagnosis.nottingham.mitoses": "3",
        "diagnosis.her2": "negative",
        "diagnosis.her2_ihc": "3+",
        "diagnosis.her2_ish_ratio": "",
        "diagnosis.her2_copy_number": "",
        "stage.t": "cTis",
        "stage.n": "cN1",
    }
    page = world.client("referrer").post("/cases/new", data=form)
    assert page.status_code == 422
    text = page.text
    assert re.search(
        r'id="err-diagnosis.grade">grade 2 does not match the Nottingham components', text
    )
    assert re.search(r'id="err-diagnosis.her2">HER2 IHC 3\+ is positive, not negative', text)
    assert re.search(r'id="err-stage.n">Tis \(in situ\) cannot have nodal disease', text)
    summary = text.split('class="errors"')[1].split("</div>")[0]
    assert 'href="#f-diagnosis.grade"' in summary and "Diagnosis · grade" in summary
    assert "does not match the Nottingham components" in summary
    # What was chosen is kept.
    assert re.search(r'name="diagnosis.grade".*?<option value="2" selected>', text, re.S)
    assert re.search(
        r'name="diagnosis.nottingham.mitoses".*?<option value="3" selected>', text, re.S
    )
    assert 'name="plan.medications.1.name" value="zoledronic acid"' in text
    assert world.run(lambda: db.session.scalar(select(Case.id))) is None


def test_an_error_in_a_medication_row_shows_beside_that_rows_field(world):
    form = {
        **CASE_FORM,
        "plan.medications.1.name": "tamoxifen",
        "plan.medications.1.dose": "twenty",
        "plan.medications.1.unit": "mg",
        "plan.medications.1.route": "oral",
        "plan.medications.1.frequency": "daily",
        "plan.medications.3.name": "goserelin",
        "plan.medications.3.dose": "3.6",
        "plan.medications.3.unit": "mg",
        "plan.medications.3.route": "subcutaneous",
    }
    page = world.client("referrer").post("/cases/new", data=form)
    assert page.status_code == 422
    # Rows 1 and 3 were the filled ones: they come back as rows 0 and 1, each message
    # beside its own input.
    assert re.search(r'id="err-plan.medications.0.dose">must be a number', page.text)
    assert re.search(r'id="err-plan.medications.1.frequency">is required', page.text)
    assert re.search(r'name="plan.medications.0.dose"[^>]*value="twenty"', page.text)
    assert 'name="plan.medications.1.name" value="goserelin"' in page.text
    assert "Plan · medication 1 · dose" in page.text


def test_a_referrer_names_the_source_record_of_a_fact_and_the_case_page_shows_it(world):
    case_id = _draft(world)
    record_id = _add_pathology(world, case_id)
    client = world.client("referrer")
    edit = client.get(f"/cases/{case_id}/edit").text
    assert 'name="diagnosis.sources.grade"' in edit and 'name="stage.sources.t"' in edit
    assert f'<option value="{record_id}">Pathology report (pathology.pdf)</option>' in edit

    saved = client.post(
        f"/cases/{case_id}/edit",
        data={
            **CASE_FORM,
            "diagnosis.sources.grade": str(record_id),
            "diagnosis.sources.her2": str(record_id),
            "stage.sources.t": str(record_id),
        },
    )
    assert saved.status_code == 303
    stored = _stored(world, case_id)
    assert stored["diagnosis"]["sources"] == {"grade": record_id, "her2": record_id}
    assert stored["stage"]["sources"] == {"t": record_id}

    page = client.get(f"/cases/{case_id}").text
    grade = page.split("<dt>Nottingham grade</dt>")[1].split("</dd>")[0]
    assert "source: Pathology report (pathology.pdf)" in grade
    t = page.split("<dt>T</dt>")[1].split("</dd>")[0]
    assert "source: Pathology report (pathology.pdf)" in t
    er = page.split("<dt>ER</dt>")[1].split("</dd>")[0]
    assert "source:" not in er
    again = client.get(f"/cases/{case_id}/edit").text
    assert re.search(
        rf'name="diagnosis.sources.grade".*?<option value="{record_id}" selected>', again, re.S
    )


def test_a_source_that_is_not_one_of_the_cases_records_is_refused(world):
    case_id = _draft(world)
    _add_pathology(world, case_id)
    theirs = _draft(world, "other_referrer")
    foreign = _add_pathology(world, theirs, "other_referrer")
    page = world.client("referrer").post(
        f"/cases/{case_id}/edit", data={**CASE_FORM, "diagnosis.sources.grade": str(foreign)}
    )
    assert page.status_code == 422
    assert re.search(
        r'id="err-diagnosis.sources.grade">is not one of this case&#39;s records', page.text
    )
    assert "Diagnosis · source of grade" in page.text
    assert "sources" not in _stored(world, case_id)["diagnosis"]


def test_the_service_refuses_a_source_from_another_case_and_on_a_new_case(world):
    case_id = _draft(world)
    _add_pathology(world, case_id)
    theirs = _draft(world, "other_referrer")
    foreign = _add_pathology(world, theirs, "other_referrer")
    body = f.case_body(diagnosis={"grade": 2, "sources": {"grade": foreign}}, stage={"t": "cT2"})

    def update() -> None:
        cases.update_draft(world.user("referrer"), case_id, parse(CaseInput, body))

    with pytest.raises(InvalidInput) as refused:
        world.run(update)
    assert [(e.field, e.message) for e in refused.value.errors] == [
        ("diagnosis.sources.grade", "is not one of this case's records")
    ]

    def create() -> None:
        cases.create_draft(world.user("referrer"), parse(CaseInput, body))

    with pytest.raises(InvalidInput):
        world.run(create)


# --- The stage the board computes -----------------------------------------------------

# cT2 cN0 cM0, grade 2, ER+ PR+ HER2-: the clinical prognostic stage is IB, not IIA.
FLAGGED_STAGE = {"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IIA"}
FLAG = (
    "The submitted clinical prognostic stage IIA differs from the AJCC 8th group the board "
    "computes: IB"
)


def _flag_box(html: str) -> str:
    return html.split('class="stage-flags"')[1].split("</div>")[0]


def test_a_stage_flag_is_shown_to_the_referrer_the_reviewer_and_the_coordinator(world):
    case_id = _routed(world, stage=FLAGGED_STAGE)
    referrer = world.client("referrer").get(f"/cases/{case_id}").text
    assert FLAG in _flag_box(referrer)
    assert "cT2 cN0 cM0, grade 2, ER+ PR+ HER2-: clinical prognostic stage IB" in referrer
    clinical = referrer.split("<dt>Clinical prognostic stage</dt>")[1].split("</dd>")[0]
    assert re.search(r"IIA <span[^>]*>submitted</span> · ", clinical)
    assert re.search(r"IB <span[^>]*>computed</span> <span class=\"flag\"", clinical)
    anatomic = referrer.split("<dt>Anatomic stage group</dt>")[1].split("</dd>")[0]
    assert "IIA" in anatomic and "computed" in anatomic and "⚠" not in anatomic

    reviewer_page = world.client("pathologist").get(
        f"/assignments/{_assignment_of(world, 'pathologist', case_id)}"
    )
    assert FLAG in _flag_box(reviewer_page.text)
    coordinator = world.client("coordinator").get(f"/cases/{case_id}").text
    assert FLAG in _flag_box(coordinator)


def test_a_concordant_stage_has_no_flag_but_shows_the_computed_groups(world):
    case_id = _routed(world)
    page = world.client("referrer").get(f"/cases/{case_id}").text
    assert 'class="stage-flags"' not in page
    clinical = page.split("<dt>Clinical prognostic stage</dt>")[1].split("</dd>")[0]
    assert "IB" in clinical and "submitted" in clinical and "computed" in clinical


def test_the_second_opinion_carries_the_stage_flag_reasons_and_re_testing(world):
    case_id = _routed(world, stage=FLAGGED_STAGE)
    _sign(
        world,
        "pathologist",
        case_id,
        diagnosis={
            "verdict": "differ",
            "severity": "major",
            "alternative": {"her2": "positive", "her2_ihc": "3+"},
            "reasons": ["her2"],
            "rationale": "IHC 3+ on review.",
        },
        retesting=["her2_ish"],
    )

    def consensus() -> None:
        meetings.record_consensus(
            world.user("coordinator"),
            case_id,
            parse(ConsensusInput, {"summary": "HER2 positive: add anti-HER2 therapy."}),
        )

    world.run(consensus)
    page = world.client("coordinator").get(f"/cases/{case_id}/second-opinion").text
    assert FLAG in _flag_box(page)
    assert "why: HER2 status" in page
    assert "Re-testing recommended:</em> HER2 by in-situ hybridisation (ISH)" in page
    pdf = world.client("coordinator").get(f"/cases/{case_id}/second-opinion.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")


# --- The review form ------------------------------------------------------------------

REVIEW_FORM = {
    "diagnosis.verdict": "differ",
    "diagnosis.severity": "major",
    "diagnosis.reasons": ["her2"],
    "diagnosis.alternative.her2_ihc": "3+",
    "diagnosis.rationale": "The HER2 stain is 3+ in over 10% of cells.",
    "stage.verdict": "differ",
    "stage.severity": "major",
    "stage.reasons": ["tumour_size", "nodal_status"],
    "stage.alternative.t": "cT3",
    "stage.alternative.n": "cN1",
    "stage.alternative.m": "cM0",
    "stage.alternative.clinical_prognostic": "IIIA",
    "stage.rationale": "The MRI shows a 5.5 cm mass with an axillary node.",
    "plan.verdict": "concur",
    # Left ticked from an earlier "differ": dropped with the concur.
    "plan.reasons": ["radiation"],
    "plan.rationale": "Agree.",
    "retesting": ["her2_ish", "genomic_assay"],
}


def _accepted(world: World, case_id: int) -> tuple[Any, int]:
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("pathologist")
    assert client.post(f"/assignments/{assignment_id}/accept").status_code == 303
    return client, assignment_id


def test_the_review_form_offers_reasons_re_testing_and_the_new_alternative_fields(world):
    case_id = _routed(world)
    client, assignment_id = _accepted(world, case_id)
    page = client.get(f"/assignments/{assignment_id}").text
    for name in (
        "stage.alternative.pathological_prognostic",
        "stage.alternative.recurrence_score",
        "stage.alternative.clinical_prognostic",
        "diagnosis.alternative.her2_ihc",
        "diagnosis.alternative.er_percent",
        "diagnosis.alternative.grade",
    ):
        assert f'name="{name}"' in page, name
    assert 'name="diagnosis.reasons" value="lymphovascular_invasion"> lymphovascular invasion' in (
        page
    )
    assert 'name="stage.reasons" value="tumour_size"> tumour size (T)' in page
    assert 'name="retesting" value="her2_ish"> HER2 by in-situ hybridisation (ISH)' in page


def test_the_review_form_records_reasons_and_re_testing_and_shows_the_computed_stage(world):
    case_id = _routed(world)
    client, assignment_id = _accepted(world, case_id)
    signed = client.post(f"/assignments/{assignment_id}/review", data=REVIEW_FORM)
    assert signed.status_code == 303, signed.text

    def stored() -> dict[str, Any]:
        review = db.session.scalar(select(Review))
        assert review is not None
        return {v.dimension: v.reasons for v in review.verdicts} | {
            "retesting": review.retesting,
            "diagnosis_alternative": review.verdict_for("diagnosis").alternative,  # type: ignore[union-attr]
        }

    review = world.run(stored)
    assert review["diagnosis"] == ["her2"]
    assert sorted(review["stage"]) == ["nodal_status", "tumour_size"]
    assert review["plan"] == []
    assert review["retesting"] == ["her2_ish", "genomic_assay"]
    # IHC 3+ implies HER2 positive: the reviewer's markers.
    assert review["diagnosis_alternative"]["her2"] == "positive"

    page = client.get(f"/assignments/{assignment_id}").text
    signed_part = page.split("Your signed review")[1]
    assert 'Why:</span> <span class="reason">HER2 status</span>' in signed_part
    assert "tumour size (T)" in signed_part and "nodal status" in signed_part
    assert "HER2 by in-situ hybridisation (ISH)" in signed_part
    assert "a genomic assay (e.g. the 21-gene recurrence score)" in signed_part
    # cT3 cN1 cM0 with grade 2, ER+ PR+ and the reviewer's HER2+: the board computes
    # its own groups for the reviewer's categories and flags the IIIA they gave.
    stage_cell = signed_part.split('<th scope="row">Stage</th>')[1].split("</tr>")[0]
    assert re.search(r"IIIA <span[^>]*>submitted</span> · ", stage_cell)
    assert "computed" in stage_cell and 'class="stage-flags"' in stage_cell
    assert "cT3 cN1 cM0, grade 2, ER+ PR+ HER2+" in stage_cell

    coordinator = world.client("coordinator").get(f"/cases/{case_id}").text
    side = coordinator.split('class="list side-by-side"')[1].split("</table>")[0]
    assert "HER2 status" in side and "tumour size (T)" in side
    assert "HER2 by in-situ hybridisation (ISH)" in side
    assert "cT3 cN1 cM0, grade 2, ER+ PR+ HER2+" in side


def test_a_concur_with_a_reason_left_ticked_is_signed_without_it(world):
    case_id = _routed(world)
    client, assignment_id = _accepted(world, case_id)
    form = {
        "diagnosis.verdict": "concur",
        "diagnosis.reasons": ["grade"],
        "stage.verdict": "concur",
        "plan.verdict": "concur",
    }
    assert client.post(f"/assignments/{assignment_id}/review", data=form).status_code == 303
    reasons = world.run(
        lambda: [v.reasons for v in db.session.scalar(select(Review)).verdicts]  # type: ignore[union-attr]
    )
    assert reasons == [[], [], []]


# --- Records requests -----------------------------------------------------------------


def _ask_for_imaging(world: World, case_id: int) -> Any:
    assignment_id = _assignment_of(world, "pathologist", case_id)
    client = world.client("pathologist")
    page = client.get(f"/assignments/{assignment_id}").text
    assert "Request records from the referrer" in page
    assert 'name="kinds" value="imaging_report"' in page
    refused = client.post(f"/assignments/{assignment_id}/records-request", data={"message": " "})
    assert refused.status_code == 422
    assert re.search(r'id="err-message">is required', refused.text)
    assert "The request was not sent" in refused.text and "kinds" in refused.text
    asked = client.post(
        f"/assignments/{assignment_id}/records-request",
        data={"kinds": ["imaging_report"], "message": "Please send the MRI report of March."},
    )
    assert asked.status_code == 303
    return client


def test_a_reviewer_requests_records_and_the_referrer_uploads_them_from_the_page(world):
    case_id = _routed(world)
    reviewer = _ask_for_imaging(world, case_id)
    assert _status(world, case_id) == "awaiting_records"
    own = reviewer.get(f"/assignments/{_assignment_of(world, 'pathologist', case_id)}").text
    requests = own.split('id="record-requests"')[1].split("</ul>")[0]
    assert "Imaging report" in requests and "Please send the MRI report of March." in requests
    assert "clock paused" in own

    referrer = world.client("referrer")
    page = referrer.get(f"/cases/{case_id}").text
    box = page.split('id="records-requested"')[1].split('class="upload')[0]
    assert "The reviewers are waiting for records from you" in box
    assert "Imaging report" in box and "asked by the breast pathology reviewer" in box
    assert "Please send the MRI report of March." in box
    assert "clock is paused since" in box
    # The referrer answers through the board: the reviewer's specialty, never their name.
    assert "Dr. Paula Pathologist" not in page
    assert "clock paused" in page.split('class="page-head"')[1].split("</div>")[0]
    # The upload form sits in the box, with the kind asked for chosen.
    assert re.search(r'<option value="imaging_report" selected>', page)

    uploaded = referrer.post(
        f"/cases/{case_id}/records",
        data={"kind": "imaging_report", "file": (io.BytesIO(f.pdf("MRI")), "mri.pdf")},
        content_type="multipart/form-data",
    )
    assert uploaded.status_code == 303
    assert _status(world, case_id) == "in_review"
    page = referrer.get(f"/cases/{case_id}").text
    assert 'id="records-requested"' not in page
    history = page.split('id="record-requests"')[1].split("</ul>")[0]
    assert "The records arrived" in history
    assert "second opinion due" in page


def test_the_referrer_answers_a_request_without_the_record(world):
    case_id = _routed(world)
    _ask_for_imaging(world, case_id)
    request_id = world.run(lambda: db.session.scalar(select(RecordRequest.id)))
    referrer = world.client("referrer")
    path = f"/cases/{case_id}/record-requests/{request_id}/answer"
    refused = referrer.post(path, data={"answer": ""})
    assert refused.status_code == 422
    assert re.search(rf'id="err-answer-{request_id}">is required', refused.text)
    answered = referrer.post(path, data={"answer": "No MRI was done; the mammogram is attached."})
    assert answered.status_code == 303
    assert _status(world, case_id) == "in_review"
    page = world.client("pathologist").get(
        f"/assignments/{_assignment_of(world, 'pathologist', case_id)}"
    )
    assert "No MRI was done; the mammogram is attached." in page.text


# --- Second readers and tie-breaks ----------------------------------------------------


def test_the_coordinator_asks_a_tie_break_where_two_pathologists_disagree(world):
    third = world.run(
        lambda: f.user(Role.PATHOLOGIST, f.institution("Third Lab"), name="Dr. Tia Third").id
    )
    case_id = _routed(world)
    coordinator = world.client("coordinator")
    added = coordinator.post(
        f"/cases/{case_id}/assignments", data={"reviewer_id": str(world.ids["pathologist2"])}
    )
    assert added.status_code == 303
    page = coordinator.get(f"/cases/{case_id}").text
    assert "second reader" in page
    _sign(world, "pathologist", case_id)
    _sign(
        world,
        "pathologist2",
        case_id,
        diagnosis={
            "verdict": "differ",
            "severity": "major",
            "alternative": {"histologic_type": "invasive_lobular"},
            "rationale": "E-cadherin negative.",
        },
    )
    page = coordinator.get(f"/cases/{case_id}").text
    box = page.split('id="disagreements"')[1].split('<div class="card">')[0]
    assert "Breast pathology · the diagnosis" in box
    assert "Dr. Paula Pathologist" in box and "Dr. Pia Second" in box
    assert 'class="badge concur"' in box and 'class="badge differ"' in box
    assert "E-cadherin negative." in box and "histologic type" in box
    assert "Ask a tie-break reviewer" in box and "choose the reviewer" in box
    # Whom to ask by name is on the case's reviewers page.
    staffing = coordinator.get(f"/cases/{case_id}/staffing").text
    tie = staffing.split('id="tie-break-pathology-diagnosis"')[1]
    assert f'<option value="{third}">Dr. Tia Third' in tie

    asked = coordinator.post(
        f"/cases/{case_id}/tie-breaks",
        data={"specialty": "pathology", "dimension": "diagnosis", "reviewer_id": ""},
    )
    assert asked.status_code == 303
    page = coordinator.get(f"/cases/{case_id}").text
    assert "Dr. Tia Third is asked to break the tie on the diagnosis." in page
    assert "tie-break on the diagnosis" in page
    box = page.split('id="disagreements"')[1].split('<div class="card">')[0]
    assert "Tie-break asked of <strong>Dr. Tia Third</strong>" in box
    assert "Ask a tie-break reviewer" not in box
    assert (
        'id="tie-break-pathology-diagnosis"'
        not in coordinator.get(f"/cases/{case_id}/staffing").text
    )
    assert _status(world, case_id) == "in_review"

    again = coordinator.post(
        f"/cases/{case_id}/tie-breaks",
        data={"specialty": "pathology", "dimension": "diagnosis"},
    )
    assert again.status_code == 303
    assert "at most one per dimension" in coordinator.get(f"/cases/{case_id}").text
    # The tie-break reviewer sees what they are asked.
    assignment_id = world.run(
        lambda: db.session.scalar(select(Assignment.id).where(Assignment.reviewer_id == third))
    )
    third_email = world.run(lambda: db.session.get(User, third).email)  # type: ignore[union-attr]
    third_client = world.app.test_client()
    assert sign_in(third_client, third_email).status_code == 302
    own = third_client.get(f"/assignments/{assignment_id}").text
    assert "tie-break on the diagnosis" in own and "your review breaks the tie" in own
