"""Every cell of the three AJCC 8th breast stage tables, against expected tables written here.

The expected values are typed out independently of board/staging/tables.py, in the layout the
AJCC chapter prints them (AJCC Cancer Staging Manual 8th ed., ch. 48 Breast, updated 2018; as
republished in NCI PDQ Breast Cancer Treatment, Health Professional Version). A mistake in
either copy makes a test fail.
"""

from __future__ import annotations

import itertools

import pytest

from board.staging import explain, stage_group

T_GROUPS = ("TX", "Tis", "T0", "T1", "T2", "T3", "T4")
N_GROUPS = ("NX", "N0", "N1mi", "N1", "N2", "N3")

# AJCC 8th Anatomic Stage Groups, M0, as a T x N grid. "-" = the table defines no group.
# T0/T1 with N1mi only are IB; for T2-T4, N1 includes N1mi; "Any T N3 M0" is IIIC.
ANATOMIC_M0 = """
        NX    N0    N1mi  N1    N2    N3
TX      -     -     -     -     -     IIIC
Tis     -     0     -     -     -     IIIC
T0      -     -     IB    IIA   IIIA  IIIC
T1      -     IA    IB    IIA   IIIA  IIIC
T2      -     IIA   IIB   IIB   IIIA  IIIC
T3      -     IIB   IIIA  IIIA  IIIA  IIIC
T4      -     IIIB  IIIB  IIIB  IIIB  IIIC
"""

# Which printed row group of the prognostic tables each T x N falls in (M0). "0" is the
# Tis N0 M0 row (stage 0 whatever the biomarkers), "-" no row.
#   A = T1 N0, T0 N1mi, T1 N1mi      B = T0 N1, T1 N1, T2 N0       C = T2 N1, T3 N0
#   D = T0-T2 N2, T3 N1, T3 N2       E = T4 N0-N2, Any T N3
# N1mi goes with T1 N0 for T0/T1, and with N1 for T2-T4 (AJCC footnotes).
PROGNOSTIC_ROW_GROUP = """
        NX    N0    N1mi  N1    N2    N3
TX      -     -     -     -     -     E
Tis     -     0     -     -     -     E
T0      -     -     A     B     D     E
T1      -     A     A     B     D     E
T2      -     B     C     C     D     E
T3      -     C     D     D     D     E
T4      -     E     E     E     E     E
"""

#                     HER2-positive ----------------    HER2-negative ----------------
#                     ER+    ER+    ER-    ER-          ER+    ER+    ER-    ER-
#                     PR+    PR-    PR+    PR-          PR+    PR-    PR+    PR-
CLINICAL_PROGNOSTIC = """
A   G1                IA     IA     IA     IA           IA     IA     IA     IB
A   G2                IA     IA     IA     IA           IA     IA     IA     IB
A   G3                IA     IA     IA     IA           IA     IB     IB     IB
B   G1                IB     IIA    IIA    IIA          IB     IIA    IIA    IIA
B   G2                IB     IIA    IIA    IIA          IB     IIA    IIA    IIB
B   G3                IB     IIA    IIA    IIA          IIA    IIB    IIB    IIB
C   G1                IB     IIA    IIA    IIB          IIA    IIB    IIB    IIB
C   G2                IB     IIA    IIA    IIB          IIA    IIB    IIB    IIIB
C   G3                IB     IIB    IIB    IIB          IIB    IIIA   IIIA   IIIB
D   G1                IIA    IIIA   IIIA   IIIA         IIA    IIIA   IIIA   IIIB
D   G2                IIA    IIIA   IIIA   IIIA         IIA    IIIA   IIIA   IIIB
D   G3                IIB    IIIA   IIIA   IIIA         IIIA   IIIB   IIIB   IIIC
E   G1                IIIA   IIIB   IIIB   IIIB         IIIB   IIIB   IIIB   IIIC
E   G2                IIIA   IIIB   IIIB   IIIB         IIIB   IIIB   IIIB   IIIC
E   G3                IIIB   IIIB   IIIB   IIIB         IIIB   IIIC   IIIC   IIIC
"""

#                     HER2-positive ----------------    HER2-negative ----------------
#                     ER+    ER+    ER-    ER-          ER+    ER+    ER-    ER-
#                     PR+    PR-    PR+    PR-          PR+    PR-    PR+    PR-
PATHOLOGICAL_PROGNOSTIC = """
A   G1                IA     IA     IA     IA           IA     IA     IA     IA
A   G2                IA     IA     IA     IA           IA     IA     IA     IB
A   G3                IA     IA     IA     IA           IA     IA     IA     IB
B   G1                IA     IB     IB     IIA          IA     IB     IB     IIA
B   G2                IA     IB     IB     IIA          IA     IIA    IIA    IIA
B   G3                IA     IIA    IIA    IIA          IB     IIA    IIA    IIA
C   G1                IA     IIB    IIB    IIB          IA     IIB    IIB    IIB
C   G2                IB     IIB    IIB    IIB          IB     IIB    IIB    IIB
C   G3                IB     IIB    IIB    IIB          IIA    IIB    IIB    IIIA
D   G1                IB     IIIA   IIIA   IIIA         IB     IIIA   IIIA   IIIA
D   G2                IB     IIIA   IIIA   IIIA         IB     IIIA   IIIA   IIIB
D   G3                IIA    IIIA   IIIA   IIIA         IIB    IIIA   IIIA   IIIC
E   G1                IIIA   IIIB   IIIB   IIIB         IIIA   IIIB   IIIB   IIIB
E   G2                IIIA   IIIB   IIIB   IIIB         IIIA   IIIB   IIIB   IIIC
E   G3                IIIB   IIIB   IIIB   IIIB         IIIB   IIIC   IIIC   IIIC
"""

COLUMNS = (  # (HER2, ER, PR) in the printed order
    ("positive", "positive", "positive"),
    ("positive", "positive", "negative"),
    ("positive", "negative", "positive"),
    ("positive", "negative", "negative"),
    ("negative", "positive", "positive"),
    ("negative", "positive", "negative"),
    ("negative", "negative", "positive"),
    ("negative", "negative", "negative"),
)


def _tn_grid(text: str) -> dict[tuple[str, str], str | None]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header) == N_GROUPS
    assert tuple(row[0] for row in rows) == T_GROUPS
    return {
        (row[0], n): (None if cell == "-" else cell)
        for row in rows
        for n, cell in zip(header, row[1:], strict=True)
    }


def _prognostic(text: str) -> dict[tuple[str, int, str, str, str], str]:
    cells: dict[tuple[str, int, str, str, str], str] = {}
    for line in text.strip().splitlines():
        group, grade, *stages = line.split()
        assert len(stages) == 8
        for (her2, er, pr), stage in zip(COLUMNS, stages, strict=True):
            cells[(group, int(grade.removeprefix("G")), her2, er, pr)] = stage
    assert len(cells) == 5 * 3 * 8
    return cells


ANATOMIC = _tn_grid(ANATOMIC_M0)
ROW_GROUP = _tn_grid(PROGNOSTIC_ROW_GROUP)
PROGNOSTIC = {
    "clinical_prognostic": _prognostic(CLINICAL_PROGNOSTIC),
    "pathological_prognostic": _prognostic(PATHOLOGICAL_PROGNOSTIC),
}
PREFIX = {"clinical_prognostic": "c", "pathological_prognostic": "p"}


def _sign(status: str) -> str:
    return "+" if status == "positive" else "-"


def _anatomic_cases() -> list[object]:
    cases: list[object] = []
    for (t, n), stage in ANATOMIC.items():
        cases.append(pytest.param(t, n, "M0", stage, id=f"{t} {n} M0 -> {stage}"))
        cases.append(pytest.param(t, n, "M1", "IV", id=f"{t} {n} M1 -> IV"))
    return cases


@pytest.mark.parametrize(("t", "n", "m", "expected"), _anatomic_cases())
def test_every_cell_of_the_anatomic_table_gives_the_ajcc_stage(t, n, m, expected):
    assert stage_group("anatomic", t, n, m) == expected


def _prognostic_cases() -> list[object]:
    cases: list[object] = []
    for kind, cells in PROGNOSTIC.items():
        p = PREFIX[kind]
        for (t, n), group in ROW_GROUP.items():
            combos = itertools.product((1, 2, 3), COLUMNS)
            for grade, (her2, er, pr) in combos:
                if group is None:
                    expected = None
                elif group == "0":
                    expected = "0"
                else:
                    expected = cells[(group, grade, her2, er, pr)]
                label = f"{kind} {t} {n} M0 G{grade} HER2{_sign(her2)} ER{_sign(er)} PR{_sign(pr)}"
                cases.append(
                    pytest.param(
                        kind,
                        p + t,
                        p + n,
                        "M0",
                        grade,
                        er,
                        pr,
                        her2,
                        expected,
                        id=f"{label} -> {expected}",
                    )
                )
            cases.append(
                pytest.param(
                    kind,
                    p + t,
                    p + n,
                    "M1",
                    2,
                    "positive",
                    "negative",
                    "negative",
                    "IV",
                    id=f"{kind} {t} {n} M1 -> IV",
                )
            )
    return cases


@pytest.mark.parametrize(
    ("kind", "t", "n", "m", "grade", "er", "pr", "her2", "expected"), _prognostic_cases()
)
def test_every_cell_of_the_prognostic_tables_gives_the_ajcc_stage(
    kind, t, n, m, grade, er, pr, her2, expected
):
    assert stage_group(kind, t, n, m, grade=grade, er=er, pr=pr, her2=her2) == expected


@pytest.mark.parametrize("kind", sorted(PROGNOSTIC))
@pytest.mark.parametrize("group", ["A", "B", "C", "D", "E"])
def test_the_explanation_of_every_prognostic_row_group_names_its_printed_row(kind, group):
    t, n = next(tn for tn, g in ROW_GROUP.items() if g == group and "X" not in "".join(tn))
    result = explain(kind, t, n, "M0", grade=2, er="positive", pr="positive", her2="negative")
    printed_row = {
        "A": "T1 N0 M0; T0 N1mi M0; T1 N1mi M0",
        "B": "T0 N1 M0; T1 N1 M0; T2 N0 M0",
        "C": "T2 N1 M0; T3 N0 M0",
        "D": "T0 N2 M0; T1 N2 M0; T2 N2 M0; T3 N1 M0; T3 N2 M0",
        "E": "T4 N0 M0; T4 N1 M0; T4 N2 M0; Any T N3 M0",
    }[group]
    assert result.rule == "table"
    assert result.row is not None
    assert result.row.startswith(printed_row)
    assert "G2 / HER2- / ER+ / PR+" in result.explanation
    assert result.stage == PROGNOSTIC[kind][(group, 2, "negative", "positive", "positive")]


def test_the_expected_tables_cover_every_t_and_n_group_and_every_biomarker_column():
    assert len(ANATOMIC) == len(T_GROUPS) * len(N_GROUPS)
    assert len(ROW_GROUP) == len(T_GROUPS) * len(N_GROUPS)
    assert len(set(COLUMNS)) == 8
    assert len(_prognostic_cases()) == 2 * (len(ROW_GROUP) * 24 + len(ROW_GROUP))
