"""The clinical consistency rules, from tables (CAP/Elston-Ellis, ASCO/CAP, AJCC)."""

from __future__ import annotations

import pytest

from board.cases.clinical import (
    IshGroup,
    check_diagnosis,
    check_stage,
    her2_status_for,
    ish_group,
    nottingham_grade,
    receptor_status_for,
    split_prefix,
)


@pytest.mark.parametrize(
    ("tubules", "pleomorphism", "mitoses", "grade"),
    [
        (1, 1, 1, 1),
        (1, 2, 2, 1),
        (3, 1, 1, 1),  # sums 3-5
        (2, 2, 2, 2),
        (3, 2, 1, 2),
        (3, 3, 1, 2),
        (1, 3, 3, 2),  # sums 6-7
        (3, 3, 2, 3),
        (2, 3, 3, 3),
        (3, 3, 3, 3),  # sums 8-9
    ],
)
def test_the_nottingham_grade_follows_the_sum_of_its_components(
    tubules, pleomorphism, mitoses, grade
):
    assert nottingham_grade(tubules, pleomorphism, mitoses) == grade


@pytest.mark.parametrize(
    ("percent", "status"),
    [
        (0, "negative"),
        (0.5, "negative"),
        (1, "low_positive"),
        (5, "low_positive"),
        (10, "low_positive"),
        (10.5, "positive"),
        (11, "positive"),
        (95, "positive"),
    ],
)
def test_receptor_status_follows_asco_cap_cutoffs(percent, status):
    assert receptor_status_for(percent) == status


@pytest.mark.parametrize(
    ("ratio", "copies", "group"),
    [
        (2.5, 5.0, IshGroup.AMPLIFIED),
        (2.0, 4.0, IshGroup.AMPLIFIED),
        (2.2, 3.5, IshGroup.RATIO_HIGH_COPIES_LOW),
        (1.5, 6.5, IshGroup.RATIO_LOW_COPIES_HIGH),
        (1.8, 4.5, IshGroup.RATIO_LOW_COPIES_MID),
        (1.2, 2.0, IshGroup.NOT_AMPLIFIED),
    ],
)
def test_dual_probe_ish_falls_in_its_asco_cap_group(ratio, copies, group):
    assert ish_group(ratio, copies) is group


@pytest.mark.parametrize(
    ("ihc", "ratio", "copies", "status"),
    [
        ("3+", None, None, "positive"),
        ("0", None, None, "negative"),
        ("1+", None, None, "negative"),
        ("2+", None, None, "equivocal"),
        ("2+", 2.4, 5.0, "positive"),
        ("2+", 1.1, 2.0, "negative"),
        ("2+", 2.2, 3.5, None),  # group 2 with IHC 2+: the workup decides
        ("1+", 2.2, 3.5, "negative"),
        (None, 2.4, 5.0, "positive"),
        (None, None, None, None),
    ],
)
def test_her2_status_follows_ihc_and_ish(ihc, ratio, copies, status):
    assert her2_status_for(ihc, ratio, copies) == status


@pytest.mark.parametrize(
    ("diagnosis", "field", "words"),
    [
        (
            {"grade": 2, "nottingham": {"tubules": 3, "pleomorphism": 3, "mitoses": 2}},
            "grade",
            "score 8 is grade 3",
        ),
        ({"her2": "negative", "her2_ihc": "3+"}, "her2", "HER2 IHC 3+ is positive, not negative"),
        ({"her2": "positive", "her2_ihc": "1+"}, "her2", "is negative, not positive"),
        ({"her2": "negative", "her2_ihc": "2+"}, "her2", "is equivocal, not negative"),
        (
            {"her2": "negative", "her2_ihc": "2+", "her2_ish_ratio": 3.0, "her2_copy_number": 7.0},
            "her2",
            "ISH ratio 3 with 7 copies is positive",
        ),
        ({"er": "positive", "er_percent": 5}, "er", "ER 5% is low positive, not positive"),
        ({"pr": "negative", "pr_percent": 40}, "pr", "PR 40% is positive, not negative"),
        ({"her2_ish_ratio": 2.5}, "her2_ish_ratio", "together"),
        ({"nodes_examined": 3, "nodes_positive": 4}, "nodes_positive", "cannot exceed"),
        (
            {"histologic_type": "dcis", "lymphovascular_invasion": True},
            "lymphovascular_invasion",
            "DCIS is in situ",
        ),
    ],
)
def test_impossible_diagnoses_are_named_by_field(diagnosis, field, words):
    problems = check_diagnosis(diagnosis).problems
    assert [p.field for p in problems] == [field]
    assert words in problems[0].message


@pytest.mark.parametrize(
    ("diagnosis", "derived"),
    [
        ({"nottingham": {"tubules": 2, "pleomorphism": 2, "mitoses": 1}}, {"grade": 1}),
        ({"er_percent": 0}, {"er": "negative"}),
        ({"er_percent": 8, "pr_percent": 60}, {"er": "low_positive", "pr": "positive"}),
        ({"her2_ihc": "3+"}, {"her2": "positive"}),
        ({"her2_ihc": "2+", "her2_ish_ratio": 1.3, "her2_copy_number": 2.1}, {"her2": "negative"}),
        ({"grade": 2, "er": "positive", "her2": "negative"}, {}),
    ],
)
def test_statuses_left_out_are_derived_from_their_measurements(diagnosis, derived):
    check = check_diagnosis(diagnosis)
    assert check.derived == derived
    assert check.problems == ()


@pytest.mark.parametrize(
    ("stage", "fields"),
    [
        ({"t": "cTis", "n": "cN1", "m": "cM0"}, ["n"]),
        ({"t": "pTis", "n": "pN0(i+)"}, []),
        ({"t": "Tis", "n": "N0"}, []),
        ({"t": "cT2", "n": "pN1"}, ["t"]),
        ({"clinical_t": "pT2", "clinical_n": "cN0"}, ["clinical_t"]),
        ({"pathological_t": "cT1", "pathological_n": "pN0"}, ["pathological_t"]),
        ({"t": "ypT1", "n": "ypN0", "m": "cM0"}, []),
        (
            {
                "clinical_t": "cT2",
                "clinical_n": "cN1",
                "pathological_t": "pT1c",
                "pathological_n": "pN1a",
            },
            [],
        ),
    ],
)
def test_stage_categories_that_cannot_stand_together_are_refused(stage, fields):
    assert [p.field for p in check_stage(stage)] == fields


@pytest.mark.parametrize(
    ("category", "split"),
    [
        ("cT2", ("c", "T2")),
        ("ypN1a", ("yp", "N1a")),
        ("T1c", ("", "T1c")),
        ("pM1", ("p", "M1")),
        ("ycT3", ("yc", "T3")),
    ],
)
def test_a_category_splits_into_prefix_and_category(category, split):
    assert split_prefix(category) == split
