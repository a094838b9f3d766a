"""The staging rules around the AJCC 8th tables: normalisation, special rules, errors, words."""

from __future__ import annotations

import dataclasses

import pytest

from board.staging import EDITION, StageResult, explain, stage_group

ALL_KINDS = ("anatomic", "clinical_prognostic", "pathological_prognostic")
PROGNOSTIC_KINDS = ("clinical_prognostic", "pathological_prognostic")
LUMINAL = {"grade": 2, "er": "positive", "pr": "positive", "her2": "negative"}
TRIPLE_NEGATIVE_G3 = {"grade": 3, "er": "negative", "pr": "negative", "her2": "negative"}


# --- the public contract -------------------------------------------------------------------


def test_stage_group_returns_the_stage_as_a_string():
    assert stage_group("anatomic", "T2", "N1", "M0") == "IIB"
    assert stage_group("clinical_prognostic", "T2", "N1", "M0", **TRIPLE_NEGATIVE_G3) == "IIIB"
    assert stage_group("pathological_prognostic", "T2", "N1", "M0", **TRIPLE_NEGATIVE_G3) == "IIIA"


def test_the_biomarkers_are_keyword_arguments_in_the_documented_order():
    assert stage_group(
        "pathological_prognostic", "T1", "N1", "M0", 3, "negative", "negative", "negative", None
    ) == stage_group("pathological_prognostic", "T1", "N1", "M0", **TRIPLE_NEGATIVE_G3)


def test_explain_gives_the_same_stage_as_stage_group_with_the_edition_and_kind():
    result = explain("clinical_prognostic", "cT1c", "cN1", "cM0", **LUMINAL)
    assert isinstance(result, StageResult)
    assert result.stage == stage_group("clinical_prognostic", "cT1c", "cN1", "cM0", **LUMINAL)
    assert result.stage == "IB"
    assert result.edition == EDITION == "AJCC 8th"
    assert result.kind == "clinical_prognostic"


def test_the_result_and_its_normalised_inputs_are_frozen():
    result = explain("anatomic", "T1", "N0", "M0")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.stage = "IV"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.inputs.t = "T4"  # type: ignore[misc]


def test_explain_reports_the_inputs_normalised():
    inputs = explain(
        "pathological_prognostic",
        "pT1b",
        "pN1a(sn)",
        "cM0(i+)",
        grade="G2",
        er="low_positive",
        pr="Negative",
        her2="equivocal",
        recurrence_score=12,
    ).inputs
    assert (inputs.t, inputs.n, inputs.m) == ("T1", "N1", "M0")
    assert (inputs.t_category, inputs.n_category, inputs.m_category) == ("T1b", "N1a", "M0(i+)")
    assert (inputs.t_prefix, inputs.n_prefix, inputs.m_prefix) == ("p", "p", "c")
    assert inputs.post_neoadjuvant is False
    assert (inputs.grade, inputs.er, inputs.pr, inputs.her2) == (
        2,
        "positive",
        "negative",
        "negative",
    )
    assert inputs.recurrence_score == 12


def test_the_tables_cite_the_public_encodings_of_the_ajcc_8th_breast_chapter():
    import board.staging.tables as tables

    doc = tables.__doc__ or ""
    assert "AJCC Cancer Staging Manual, 8th edition, chapter 48" in doc
    assert "01/25/2018" in doc
    assert "cancer.gov/types/breast/hp/breast-treatment-pdq" in doc
    assert "SEER" in doc


# --- the explanation names the table, the row and the rule --------------------------------


def test_a_table_explanation_names_the_table_the_row_and_the_cell():
    result = explain("clinical_prognostic", "cT2", "cN1", "M0", **TRIPLE_NEGATIVE_G3)
    assert result.rule == "table"
    assert result.table == "Clinical Prognostic Stage Groups table"
    assert result.row == "T2 N1 M0; T3 N0 M0 / G3 / HER2- / ER- / PR-"
    assert result.explanation == (
        "cT2 cN1 M0, grade 3, ER- PR- HER2-: clinical prognostic stage IIIB "
        "(AJCC 8th Clinical Prognostic Stage Groups table, row T2 N1 M0; T3 N0 M0 / G3 / HER2- "
        "/ ER- / PR-)."
    )


def test_the_oncotype_explanation_says_score_threshold_and_rule():
    result = explain("pathological_prognostic", "T1", "N0", "M0", **LUMINAL, recurrence_score=8)
    assert result.stage == "IA"
    assert result.rule == "oncotype_dx"
    assert result.explanation.startswith(
        "T1 N0 M0, grade 2, ER+ PR+ HER2-, recurrence score 8 < 11: pathological prognostic "
        "stage IA (AJCC 8th, Oncotype DX rule"
    )
    assert "whatever the grade and PR" in result.explanation


def test_the_anatomic_explanation_names_the_row_and_its_footnote():
    result = explain("anatomic", "pT1a", "pN1mi", "M0")
    assert result.stage == "IB"
    assert result.row == "T1 N1mi M0"
    assert "Anatomic Stage Groups table, row T1 N1mi M0" in result.explanation
    assert "not IIA" in result.explanation
    assert "T1a staged as T1" in result.explanation


def test_a_normalisation_is_reported_in_the_explanation():
    result = explain(
        "clinical_prognostic",
        "T2",
        "N0",
        "M0",
        grade=1,
        er="low_positive",
        pr="positive",
        her2="equivocal",
    )
    assert "ER low positive (1-10%) counted as positive" in result.explanation
    assert "HER2 equivocal staged as HER2-negative" in result.explanation


# --- prefixes ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("prefix", ["", "c", "p", "C", "P"])
def test_c_and_p_prefixes_are_stripped_for_the_lookup(kind, prefix):
    plain = stage_group(kind, "T2", "N1", "M0", **LUMINAL)
    assert plain is not None
    assert stage_group(kind, f"{prefix}T2", f"{prefix}N1", f"{prefix}M0", **LUMINAL) == plain


def test_category_spelling_is_case_and_space_insensitive():
    assert stage_group("anatomic", " pt1C ", "PN0(I+)", "m0") == "IA"
    assert stage_group("anatomic", "Tis (DCIS)", "N0", "M0") == "0"


@pytest.mark.parametrize("prefix", ["yc", "yp", "YP"])
def test_anatomic_staging_after_neoadjuvant_therapy_uses_the_anatomic_table(prefix):
    assert stage_group("anatomic", f"{prefix}T2", f"{prefix}N1a", "cM0") == "IIB"
    assert stage_group("anatomic", f"{prefix}T1c", f"{prefix}N0(i+)", "cM0") == "IA"
    assert stage_group("anatomic", f"{prefix}T0", f"{prefix}N1mi", "cM0") == "IB"
    assert explain("anatomic", f"{prefix}T2", f"{prefix}N1a", "cM0").inputs.post_neoadjuvant


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
@pytest.mark.parametrize("prefix", ["yc", "yp"])
def test_prognostic_stage_groups_are_not_assigned_after_neoadjuvant_therapy(kind, prefix):
    result = explain(kind, f"{prefix}T2", f"{prefix}N1", "cM0", **LUMINAL)
    assert result.stage is None
    assert result.rule == "post_neoadjuvant"
    assert "post-neoadjuvant" in result.explanation


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
def test_a_y_prefix_on_n_alone_also_marks_post_neoadjuvant_staging(kind):
    assert stage_group(kind, "T2", "ypN1", "M0", **LUMINAL) is None


def test_the_oncotype_rule_is_not_applied_after_neoadjuvant_therapy():
    assert (
        stage_group("pathological_prognostic", "ypT1", "ypN0", "M0", **LUMINAL, recurrence_score=5)
        is None
    )


@pytest.mark.parametrize(
    ("t", "n"),
    [("ypT0", "ypN0"), ("ypTis", "ypN0"), ("ycT0", "ycN0"), ("ypT0", "ypN0(i-)")],
)
def test_no_anatomic_stage_group_is_assigned_after_a_complete_pathological_response(t, n):
    result = explain("anatomic", t, n, "cM0")
    assert result.stage is None
    assert result.rule == "complete_response"
    assert "complete pathological response" in result.explanation


def test_residual_tumour_cells_in_nodes_are_not_a_complete_response():
    # ypT0 ypN0(i+): not a complete response, but T0 N0 has no row either.
    result = explain("anatomic", "ypT0", "ypN0(i+)", "cM0")
    assert (result.stage, result.rule) == (None, "no_stage_group")
    assert stage_group("anatomic", "ypTis", "ypN0(i+)", "cM0") == "0"


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_stage_iv_before_neoadjuvant_therapy_stays_stage_iv(kind):
    assert stage_group(kind, "ypT0", "ypN0", "cM1") == "IV"


@pytest.mark.parametrize("value", ["rT1", "aT1", "yT1", "xT1", "pcT1"])
def test_other_prefixes_are_rejected(value):
    with pytest.raises(ValueError, match=r"^t: "):
        stage_group("anatomic", value, "N0", "M0")


# --- subcategories collapse to the table groups --------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(
    ("category", "group"),
    [
        ("T1mi", "T1"),
        ("T1a", "T1"),
        ("T1b", "T1"),
        ("T1c", "T1"),
        ("T4a", "T4"),
        ("T4b", "T4"),
        ("T4c", "T4"),
        ("T4d", "T4"),
        ("Tis(DCIS)", "Tis"),
        ("Tis(Paget)", "Tis"),
        ("T2(m)", "T2"),
    ],
)
@pytest.mark.parametrize("n", ["N0", "N1", "N2"])
def test_t_subcategories_stage_as_their_t_group(kind, category, group, n):
    expected = stage_group(kind, group, n, "M0", **TRIPLE_NEGATIVE_G3)
    assert stage_group(kind, category, n, "M0", **TRIPLE_NEGATIVE_G3) == expected


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(
    ("category", "group"),
    [
        ("N1a", "N1"),
        ("N1b", "N1"),
        ("N1c", "N1"),
        ("N2a", "N2"),
        ("N2b", "N2"),
        ("N3a", "N3"),
        ("N3b", "N3"),
        ("N3c", "N3"),
        ("N1a(sn)", "N1"),
        ("N2a(f)", "N2"),
    ],
)
@pytest.mark.parametrize("t", ["T0", "T1", "T2", "T3", "T4"])
def test_n_subcategories_stage_as_their_n_group(kind, category, group, t):
    expected = stage_group(kind, t, group, "M0", **TRIPLE_NEGATIVE_G3)
    assert stage_group(kind, t, category, "M0", **TRIPLE_NEGATIVE_G3) == expected


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("n0", ["N0(i+)", "N0(i-)", "N0(mol+)", "N0(mol-)", "N0(i+)(sn)"])
@pytest.mark.parametrize("t", ["T1", "T2", "T3", "T4"])
def test_isolated_tumour_cells_and_molecular_findings_stage_as_n0(kind, n0, t):
    assert stage_group(kind, t, n0, "M0", **LUMINAL) == stage_group(kind, t, "N0", "M0", **LUMINAL)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_m0_with_isolated_tumour_cells_stages_as_m0(kind):
    assert stage_group(kind, "T2", "N0", "cM0(i+)", **LUMINAL) == stage_group(
        kind, "T2", "N0", "M0", **LUMINAL
    )


# --- N1mi ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("t", "expected"),
    [("T0", "IB"), ("T1mi", "IB"), ("T1c", "IB"), ("T2", "IIB"), ("T3", "IIIA"), ("T4b", "IIIB")],
)
def test_anatomic_n1mi_is_ib_with_t0_or_t1_and_counts_as_n1_from_t2(t, expected):
    assert stage_group("anatomic", t, "pN1mi", "M0") == expected


def test_anatomic_t1_n1mi_is_not_staged_like_t1_n1():
    assert stage_group("anatomic", "T1", "N1mi", "M0") == "IB"
    assert stage_group("anatomic", "T1", "N1", "M0") == "IIA"


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
@pytest.mark.parametrize("t", ["T0", "T1"])
def test_prognostic_t0_or_t1_n1mi_is_staged_with_t1_n0(kind, t):
    # AJCC: T0 N1mi and T1 N1mi are included for prognostic staging with T1 N0 M0.
    for markers in (LUMINAL, TRIPLE_NEGATIVE_G3):
        assert stage_group(kind, t, "N1mi", "M0", **markers) == stage_group(
            kind, "T1", "N0", "M0", **markers
        )
    assert stage_group("clinical_prognostic", t, "N1mi", "M0", **TRIPLE_NEGATIVE_G3) == "IB"
    assert stage_group("clinical_prognostic", t, "N1", "M0", **TRIPLE_NEGATIVE_G3) == "IIB"


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
@pytest.mark.parametrize("t", ["T2", "T3", "T4"])
def test_prognostic_t2_to_t4_n1mi_is_staged_with_n1(kind, t):
    for markers in (LUMINAL, TRIPLE_NEGATIVE_G3):
        assert stage_group(kind, t, "N1mi", "M0", **markers) == stage_group(
            kind, t, "N1", "M0", **markers
        )


# --- biomarkers --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
@pytest.mark.parametrize("grade", [1, 2, 3])
@pytest.mark.parametrize(
    ("er", "pr"),
    [
        ("positive", "positive"),
        ("positive", "negative"),
        ("negative", "positive"),
        ("negative", "negative"),
    ],
)
@pytest.mark.parametrize(
    ("t", "n"), [("T1", "N0"), ("T2", "N0"), ("T2", "N1"), ("T3", "N2"), ("T4", "N0"), ("T1", "N3")]
)
def test_equivocal_her2_stages_as_her2_negative(kind, grade, er, pr, t, n):
    markers = {"grade": grade, "er": er, "pr": pr}
    negative = stage_group(kind, t, n, "M0", her2="negative", **markers)
    assert stage_group(kind, t, n, "M0", her2="equivocal", **markers) == negative
    assert stage_group(kind, t, n, "M0", her2="Equivocal", **markers) == negative


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
@pytest.mark.parametrize("grade", [1, 2, 3])
@pytest.mark.parametrize("her2", ["positive", "negative"])
@pytest.mark.parametrize(
    ("t", "n"), [("T1", "N0"), ("T2", "N0"), ("T2", "N1"), ("T3", "N2"), ("T4", "N0"), ("T1", "N3")]
)
def test_low_positive_er_and_pr_count_as_positive(kind, grade, her2, t, n):
    positive = stage_group(kind, t, n, "M0", grade=grade, er="positive", pr="negative", her2=her2)
    for spelling in ("low_positive", "low positive", "Low-Positive"):
        assert (
            stage_group(kind, t, n, "M0", grade=grade, er=spelling, pr="negative", her2=her2)
            == positive
        )
    positive_pr = stage_group(
        kind, t, n, "M0", grade=grade, er="negative", pr="positive", her2=her2
    )
    assert (
        stage_group(kind, t, n, "M0", grade=grade, er="negative", pr="low_positive", her2=her2)
        == positive_pr
    )


@pytest.mark.parametrize("grade", [1, "1", "G1", "g1"])
def test_grade_may_be_given_as_a_number_or_as_g1_to_g3(grade):
    assert (
        stage_group(
            "clinical_prognostic",
            "T2",
            "N1",
            "M0",
            grade=grade,
            er="negative",
            pr="negative",
            her2="negative",
        )
        == "IIB"
    )


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
@pytest.mark.parametrize("missing", ["grade", "er", "pr", "her2"])
@pytest.mark.parametrize(("t", "n"), [("T1", "N0"), ("T2", "N1"), ("T4", "N2"), ("TX", "N3")])
def test_a_prognostic_stage_needs_grade_er_pr_and_her2(kind, missing, t, n):
    markers = {**LUMINAL, missing: None}
    result = explain(kind, t, n, "M0", **markers)
    assert result.stage is None
    assert result.rule == "missing_biomarkers"
    label = {"grade": "grade", "er": "ER", "pr": "PR", "her2": "HER2"}[missing]
    assert f"needs {label}" in result.explanation


@pytest.mark.parametrize("kind", PROGNOSTIC_KINDS)
def test_grade_gx_counts_as_an_unknown_grade(kind):
    assert (
        stage_group(
            kind, "T2", "N1", "M0", grade="GX", er="positive", pr="positive", her2="negative"
        )
        is None
    )


def test_the_explanation_lists_every_missing_biomarker():
    result = explain("clinical_prognostic", "T1", "N0", "M0", er="positive")
    assert "needs grade, PR, HER2" in result.explanation


def test_anatomic_staging_needs_no_biomarkers():
    assert stage_group("anatomic", "T3", "N1", "M0") == "IIIA"


# --- the 21-gene recurrence score (Oncotype DX) rule -------------------------------------------

ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE = {
    "grade": 3,
    "er": "positive",
    "pr": "negative",
    "her2": "negative",
}


@pytest.mark.parametrize("t", ["T1mi", "T1a", "T1b", "T1c", "T2"])
@pytest.mark.parametrize("n", ["N0", "N0(i+)", "N0(mol+)", "pN0(sn)"])
@pytest.mark.parametrize("score", [0, 5, 10, 10.9])
def test_a_recurrence_score_below_11_makes_t1_2_n0_er_positive_her2_negative_stage_ia(t, n, score):
    result = explain(
        "pathological_prognostic",
        t,
        n,
        "M0",
        **ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE,
        recurrence_score=score,
    )
    assert result.stage == "IA"
    assert result.rule == "oncotype_dx"


def test_the_recurrence_score_rule_lowers_a_stage_the_table_puts_higher():
    markers = ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE
    assert stage_group("pathological_prognostic", "T2", "N0", "M0", **markers) == "IIA"
    assert (
        stage_group("pathological_prognostic", "T2", "N0", "M0", **markers, recurrence_score=10)
        == "IA"
    )


@pytest.mark.parametrize("score", [11, 11.0, 25, 100])
def test_a_recurrence_score_of_11_or_more_leaves_the_table_stage(score):
    result = explain(
        "pathological_prognostic",
        "T2",
        "N0",
        "M0",
        **ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE,
        recurrence_score=score,
    )
    assert result.stage == "IIA"
    assert result.rule == "table"
    assert "recurrence score not used" in result.explanation


@pytest.mark.parametrize(
    ("t", "n", "expected"),
    [
        ("T2", "N1mi", "IIB"),
        ("T2", "N1", "IIB"),
        ("T1", "N1a", "IIA"),
        ("T3", "N0", "IIB"),
        ("T1", "N2", "IIIA"),
    ],
)
def test_the_recurrence_score_rule_does_not_apply_outside_t1_2_n0(t, n, expected):
    assert (
        stage_group(
            "pathological_prognostic",
            t,
            n,
            "M0",
            **ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE,
            recurrence_score=3,
        )
        == expected
    )


def test_the_recurrence_score_rule_does_not_apply_to_her2_positive_cancer():
    assert (
        stage_group(
            "pathological_prognostic",
            "T2",
            "N0",
            "M0",
            grade=3,
            er="positive",
            pr="negative",
            her2="positive",
            recurrence_score=3,
        )
        == "IIA"
    )


def test_the_recurrence_score_rule_needs_er_positive_not_only_pr_positive():
    # The AJCC row reads ER-positive, PR any: ER-negative PR-positive does not qualify.
    assert (
        stage_group(
            "pathological_prognostic",
            "T2",
            "N0",
            "M0",
            grade=3,
            er="negative",
            pr="positive",
            her2="negative",
            recurrence_score=3,
        )
        == "IIA"
    )


def test_the_recurrence_score_rule_holds_whatever_the_grade_and_pr_even_unknown():
    assert (
        stage_group(
            "pathological_prognostic",
            "T2",
            "N0",
            "M0",
            er="positive",
            her2="negative",
            recurrence_score=7,
        )
        == "IA"
    )
    assert (
        stage_group(
            "pathological_prognostic",
            "T2",
            "N0",
            "M0",
            er="positive",
            her2="negative",
            recurrence_score=11,
        )
        is None
    )


def test_the_recurrence_score_rule_accepts_low_positive_er_and_equivocal_her2():
    assert (
        stage_group(
            "pathological_prognostic",
            "T2",
            "N0",
            "M0",
            grade=3,
            er="low_positive",
            pr="negative",
            her2="equivocal",
            recurrence_score=4,
        )
        == "IA"
    )


def test_the_recurrence_score_does_not_change_the_clinical_prognostic_stage():
    markers = ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE
    result = explain("clinical_prognostic", "T2", "N0", "M0", **markers, recurrence_score=3)
    assert result.stage == "IIB"
    assert "recurrence score not used" in result.explanation


def test_the_recurrence_score_does_not_change_the_anatomic_stage():
    assert (
        stage_group(
            "anatomic",
            "T2",
            "N0",
            "M0",
            **ER_POSITIVE_HER2_NEGATIVE_G3_PR_NEGATIVE,
            recurrence_score=3,
        )
        == "IIA"
    )


# --- M1, Tis, TX/NX --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("m", ["M1", "cM1", "pM1"])
@pytest.mark.parametrize(
    ("t", "n"), [("TX", "NX"), ("Tis", "N0"), ("T0", "N0"), ("T1", "N1mi"), ("T4d", "N3c")]
)
def test_any_m1_is_stage_iv_in_every_kind_even_without_biomarkers(kind, m, t, n):
    result = explain(kind, t, n, m)
    assert result.stage == "IV"
    assert result.rule == "distant_metastasis"


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("t", ["Tis", "pTis", "cTis", "Tis(DCIS)", "Tis(Paget)"])
@pytest.mark.parametrize("markers", [{}, LUMINAL, TRIPLE_NEGATIVE_G3])
def test_tis_n0_m0_is_stage_0_in_every_kind_whatever_the_biomarkers(kind, t, markers):
    result = explain(kind, t, "N0", "M0", **markers)
    assert result.stage == "0"
    assert result.rule == "in_situ"


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(
    ("t", "n"),
    [("TX", "N0"), ("TX", "N1"), ("TX", "N2"), ("T2", "NX"), ("TX", "NX"), ("Tis", "NX")],
)
def test_tx_or_nx_cannot_be_staged_unless_m1(kind, t, n):
    result = explain(kind, t, n, "M0", **LUMINAL)
    assert result.stage is None
    assert result.rule == "not_assessable"
    assert "cannot be assessed" in result.explanation
    assert stage_group(kind, t, n, "M1", **LUMINAL) == "IV"


def test_tx_n3_m0_is_iiic_because_the_table_row_is_any_t_n3_m0():
    assert stage_group("anatomic", "TX", "N3a", "M0") == "IIIC"
    assert stage_group("pathological_prognostic", "TX", "N3", "M0", **LUMINAL) == "IIIA"


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize(("t", "n"), [("T0", "N0"), ("Tis", "N1"), ("Tis", "N1mi"), ("Tis", "N2")])
def test_combinations_the_tables_do_not_list_have_no_stage_group(kind, t, n):
    result = explain(kind, t, n, "M0", **LUMINAL)
    assert result.stage is None
    assert result.rule == "no_stage_group"
    assert "defines no stage group" in result.explanation


# --- invalid input -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["prognostic", "Anatomic", "", None, "clinical"])
def test_an_unknown_kind_is_rejected_naming_the_allowed_kinds(kind):
    allowed = "anatomic, clinical_prognostic, pathological_prognostic"
    with pytest.raises(ValueError, match=rf"^kind: .*allowed: {allowed}$"):
        stage_group(kind, "T1", "N0", "M0")


@pytest.mark.parametrize(
    ("field", "t", "n", "m"),
    [
        ("t", "T5", "N0", "M0"),
        ("t", "T1d", "N0", "M0"),
        ("t", "T1mic", "N0", "M0"),
        ("t", "", "N0", "M0"),
        ("t", None, "N0", "M0"),
        ("t", 1, "N0", "M0"),
        ("n", "T1", "N4", "M0"),
        ("n", "T1", "N1d", "M0"),
        ("n", "T1", "N0(i)", "M0"),
        ("n", "T1", "pN", "M0"),
        ("m", "T1", "N0", "M2"),
        ("m", "T1", "N0", "M1a"),
        ("m", "T1", "N0", "0"),
    ],
)
def test_an_unknown_tnm_category_is_rejected_naming_the_field_and_allowed_values(field, t, n, m):
    allowed = {
        "t": "allowed: TX, Tis, Tis(DCIS), Tis(Paget), T0, T1mi, T1, T1a, T1b, T1c, T2, T3, T4, "
        "T4a, T4b, T4c, T4d (optionally prefixed c, p, yc or yp)",
        "n": "allowed: NX, N0, N0(i-), N0(i+), N0(mol-), N0(mol+), N1mi, N1, N1a, N1b, N1c, N2, "
        "N2a, N2b, N3, N3a, N3b, N3c (optionally prefixed c, p, yc or yp)",
        "m": "allowed: M0, M0(i+), M1 (optionally prefixed c, p, yc or yp)",
    }[field]
    with pytest.raises(ValueError, match=rf"^{field}: ") as raised:
        stage_group("anatomic", t, n, m)
    assert str(raised.value).endswith(allowed)


def test_mx_is_rejected_because_the_8th_edition_has_no_mx():
    with pytest.raises(ValueError, match=r"^m: MX is not an AJCC 8th edition category"):
        stage_group("anatomic", "T1", "N0", "cMX")


def test_tis_lcis_is_rejected_because_the_8th_edition_does_not_stage_lcis():
    with pytest.raises(ValueError, match=r"^t: Tis \(LCIS\) is not staged"):
        stage_group("anatomic", "Tis(LCIS)", "N0", "M0")


@pytest.mark.parametrize("grade", [4, 0, -1, "G4", "4", "high", 2.0, True])
def test_a_grade_outside_1_to_3_is_rejected(grade):
    with pytest.raises(ValueError, match=r"^grade: .*allowed: 1, 2, 3"):
        stage_group(
            "clinical_prognostic",
            "T1",
            "N0",
            "M0",
            grade=grade,
            er="positive",
            pr="positive",
            her2="negative",
        )


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("er", "weak", "positive, negative, low_positive"),
        ("er", "equivocal", "positive, negative, low_positive"),
        ("pr", "+", "positive, negative, low_positive"),
        ("pr", True, "positive, negative, low_positive"),
        ("her2", "low", "positive, negative, equivocal"),
        ("her2", "low_positive", "positive, negative, equivocal"),
        ("her2", "3+", "positive, negative, equivocal"),
    ],
)
def test_an_unknown_biomarker_status_is_rejected_naming_the_field_and_allowed_values(
    field, value, allowed
):
    markers = {**LUMINAL, field: value}
    with pytest.raises(ValueError, match=rf"^{field}: .*allowed: {allowed}"):
        stage_group("anatomic", "T1", "N0", "M0", **markers)


@pytest.mark.parametrize("score", [-1, 100.5, 101, "8", float("nan"), True])
def test_a_recurrence_score_outside_0_to_100_is_rejected(score):
    with pytest.raises(ValueError, match=r"^recurrence_score: .*from 0 to 100"):
        stage_group("pathological_prognostic", "T1", "N0", "M0", **LUMINAL, recurrence_score=score)


def test_inputs_are_validated_even_when_the_stage_would_not_need_them():
    with pytest.raises(ValueError, match=r"^grade: "):
        stage_group("anatomic", "T1", "N0", "M1", grade=5)
