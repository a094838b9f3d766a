"""The board's own stage groups for a case, and the flags where the submitted ones differ."""

from __future__ import annotations

import pytest

from board.cases.stage_check import check_stage

LUMINAL_A = {"grade": 2, "er": "positive", "pr": "positive", "her2": "negative"}


@pytest.mark.parametrize(
    ("stage", "diagnosis", "flagged"),
    [
        # The example body: concordant.
        ({"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IB"}, LUMINAL_A, []),
        # The clinical prognostic stage of cT2 cN0 G2 ER+ PR+ HER2- is IB, not IIA.
        (
            {"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IIA"},
            LUMINAL_A,
            [("clinical_prognostic", "IIA", "IB")],
        ),
        # Anatomic stage disagrees too.
        (
            {"t": "cT2", "n": "cN0", "m": "cM0", "anatomic": "IB", "clinical_prognostic": "IB"},
            LUMINAL_A,
            [("anatomic", "IB", "IIA")],
        ),
        # The recurrence score rule: pT1c pN0 ER+ HER2- RS 8 is pathological prognostic IA.
        (
            {
                "t": "pT1c",
                "n": "pN0",
                "m": "cM0",
                "recurrence_score": 8,
                "pathological_prognostic": "IB",
            },
            {"grade": 3, "er": "positive", "pr": "negative", "her2": "negative"},
            [("pathological_prognostic", "IB", "IA")],
        ),
        # Both sets: anatomic from the pathological categories.
        (
            {
                "clinical_t": "cT2",
                "clinical_n": "cN1",
                "clinical_m": "cM0",
                "pathological_t": "pT1c",
                "pathological_n": "pN0",
                "pathological_m": "cM0",
                "anatomic": "IIB",
            },
            LUMINAL_A,
            [("anatomic", "IIB", "IA")],
        ),
        # Metastatic disease is stage IV whatever was submitted.
        (
            {"t": "cT1", "n": "cN0", "m": "cM1", "clinical_prognostic": "IA"},
            LUMINAL_A,
            [("clinical_prognostic", "IA", "IV")],
        ),
    ],
)
def test_a_submitted_group_that_differs_from_the_computed_one_is_flagged(stage, diagnosis, flagged):
    check = check_stage(stage, diagnosis)
    assert [(f.kind, f.submitted, f.computed) for f in check.flags] == flagged
    for flag in check.flags:
        assert "AJCC 8th" in flag.message


def test_a_prognostic_stage_without_markers_is_not_flagged_but_noted():
    check = check_stage({"t": "cT2", "n": "cN0", "m": "cM0", "clinical_prognostic": "IIA"}, {})
    assert check.flags == ()
    computed = {g.kind: g.stage for g in check.computed}
    assert computed == {"anatomic": "IIA", "clinical_prognostic": None}
    assert any("cannot be checked" in note for note in check.notes)


def test_a_missing_m_is_taken_as_cm0_and_said_so():
    check = check_stage({"t": "cT1c", "n": "cN0"}, LUMINAL_A)
    assert {g.kind: g.stage for g in check.computed}["anatomic"] == "IA"
    assert any("cM0" in note for note in check.notes)


def test_no_categories_means_nothing_to_compute():
    check = check_stage({}, LUMINAL_A)
    assert check.computed == () and check.flags == ()


def test_the_json_names_the_edition_and_each_group():
    body = check_stage({"t": "cT2", "n": "cN0", "m": "cM0"}, LUMINAL_A).as_json()
    assert body["edition"] == "AJCC 8th"
    assert body["computed"]["clinical_prognostic"]["stage"] == "IB"
    assert "row" in body["computed"]["clinical_prognostic"]["explanation"]
