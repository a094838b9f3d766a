"""The AJCC 8th edition breast cancer stage-group tables, as data.

Sources (the data facts encoded below; no code was copied from anywhere):

1. AJCC Cancer Staging Manual, 8th edition, chapter 48 "Breast" (Hortobagyi GN, Connolly JL,
   D'Orsi CJ, Edge SB, Mittendorf EA, Rugo HS, Solin LJ, Weaver DL, Winchester DJ, Giuliano A),
   American College of Surgeons, in the updated version of the chapter marked "Last updated
   01/25/2018" (the 2018 update, which revised cells of the prognostic stage tables). Its three
   tables: "AJCC Anatomic Stage Groups", "AJCC Clinical Prognostic Stage Groups" and "AJCC
   Pathological Prognostic Stage Groups", with their footnotes, and the "Genomic Profile for
   Pathological Prognostic Staging" row (21-gene recurrence score < 11).
2. NCI PDQ "Breast Cancer Treatment (PDQ®) - Health Professional Version", section "Stage
   Information for Breast Cancer", which republishes those AJCC tables with permission
   ("Table 9. Definition of Clinical Prognostic Stage Groups" and the anatomic and
   pathological tables): https://www.cancer.gov/types/breast/hp/breast-treatment-pdq
   (NCBI Bookshelf copy: https://www.ncbi.nlm.nih.gov/books/NBK65744/).
3. NCI SEER Extent of Disease 2018 algorithm, schema "Breast" (00480), table "OncoType(c) Less
   Than 11" (recurrence scores 000-010 qualify, 011-100 do not): the boundary of the RS rule.

How the rows were checked (2018 update wins wherever a source disagrees):

* Clinical prognostic table: every cell of the row groups T1 N0 / T0-1 N1mi, T0-1 N1 / T2 N0,
  T2 N1 / T3 N0 and T0-3 N2 / T3 N1 (G1, G2, and G3 HER2-positive) read against PDQ Table 9.
  The remaining cells (T0-3 N2 / T3 N1 G3 HER2-negative; T4 / any N3) against two independent
  public code encodings of the same AJCC table (a JavaScript and a TypeScript breast-staging
  calculator found in public repositories), which agree with each other and with this file.
* Pathological prognostic table: every cell against the same two public encodings. They agree
  with each other and with this file except one cell: the JavaScript encoding has
  "T0-3 N2 / T3 N1, G3, HER2-negative, ER-negative, PR-positive" as IIA in all five TNM rows.
  The TypeScript encoding has IIIA, and so does the AJCC table, in which the ER+/PR- and
  ER-/PR+ cells are equal in every row and grade of both prognostic tables; IIIA is used here.
* Anatomic table: the 19 rows and footnotes as printed in the chapter and PDQ.
* Teaching material that predates the 2018 update (e.g. early AJCC webinar slides) shows
  different clinical prognostic cells for some rows (for instance G1 ER+ PR+ HER2+ T1 N1 M0
  as IA); the 2018 update, as republished by PDQ, gives IB and is what is encoded.

Encoding conventions:

* T and N are the *groups* the tables are printed in: "T1" covers T1mi/T1a/T1b/T1c, "T4"
  covers T4a-T4d, "N1" is N1/N1a/N1b/N1c *without* N1mi, which is its own group "N1mi" because
  the AJCC footnotes treat it differently by T (see the rows below). The normalisation from
  categories to groups lives in rules.py.
* ANY stands for the tables' "Any" (Any T, Any N, any grade, any biomarker value).
* Biomarker columns are in the AJCC order: HER2+ (ER+PR+, ER+PR-, ER-PR+, ER-PR-), then
  HER2- in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

ANY: Final = "Any"

Status = Literal["positive", "negative"]
POS: Final[Status] = "positive"
NEG: Final[Status] = "negative"

# Every stage group the breast chapter uses, in prognostic order.
STAGES: Final = ("0", "IA", "IB", "IIA", "IIB", "IIIA", "IIIB", "IIIC", "IV")

T_GROUPS: Final = ("TX", "Tis", "T0", "T1", "T2", "T3", "T4")
N_GROUPS: Final = ("NX", "N0", "N1mi", "N1", "N2", "N3")
M_GROUPS: Final = ("M0", "M1")

ANATOMIC_TABLE_NAME: Final = "Anatomic Stage Groups table"
CLINICAL_TABLE_NAME: Final = "Clinical Prognostic Stage Groups table"
PATHOLOGICAL_TABLE_NAME: Final = "Pathological Prognostic Stage Groups table"


@dataclass(frozen=True)
class AnatomicRow:
    """One printed row of the anatomic table: T group, N group, M -> stage."""

    t: str
    n: str
    m: str
    stage: str
    note: str = ""

    @property
    def label(self) -> str:
        t = "Any T" if self.t == ANY else self.t
        n = "Any N" if self.n == ANY else self.n
        return f"{t} {n} {self.m}"


# AJCC 8th, Anatomic Stage Groups. Footnotes of the table, encoded as explicit rows:
# * T1 includes T1mi.
# * T0 and T1 tumors with nodal micrometastases (N1mi) only are excluded from stage IIA and are
#   classified stage IB.
# * N1 includes N1mi for T2, T3 and T4 ("T2, T3 and T4 cancers and N1mi are included ... with
#   T2 N1, T3 N1 and T4 N1"), hence the explicit N1mi rows next to them.
# * M0 includes M0(i+); any M1 is stage IV.
ANATOMIC_TABLE: Final[tuple[AnatomicRow, ...]] = (
    AnatomicRow("Tis", "N0", "M0", "0"),
    AnatomicRow("T1", "N0", "M0", "IA"),
    AnatomicRow("T0", "N1mi", "M0", "IB", "T0 with micrometastases only is IB, not IIA"),
    AnatomicRow("T1", "N1mi", "M0", "IB", "T1 with micrometastases only is IB, not IIA"),
    AnatomicRow("T0", "N1", "M0", "IIA"),
    AnatomicRow("T1", "N1", "M0", "IIA"),
    AnatomicRow("T2", "N0", "M0", "IIA"),
    AnatomicRow("T2", "N1", "M0", "IIB"),
    AnatomicRow("T2", "N1mi", "M0", "IIB", "N1 includes N1mi for T2"),
    AnatomicRow("T3", "N0", "M0", "IIB"),
    AnatomicRow("T0", "N2", "M0", "IIIA"),
    AnatomicRow("T1", "N2", "M0", "IIIA"),
    AnatomicRow("T2", "N2", "M0", "IIIA"),
    AnatomicRow("T3", "N1", "M0", "IIIA"),
    AnatomicRow("T3", "N1mi", "M0", "IIIA", "N1 includes N1mi for T3"),
    AnatomicRow("T3", "N2", "M0", "IIIA"),
    AnatomicRow("T4", "N0", "M0", "IIIB"),
    AnatomicRow("T4", "N1", "M0", "IIIB"),
    AnatomicRow("T4", "N1mi", "M0", "IIIB", "N1 includes N1mi for T4"),
    AnatomicRow("T4", "N2", "M0", "IIIB"),
    AnatomicRow(ANY, "N3", "M0", "IIIC"),
    AnatomicRow(ANY, ANY, "M1", "IV"),
)


@dataclass(frozen=True)
class RowGroup:
    """The TNM cell of a prognostic-table row: the T/N pairs printed together, all M0."""

    label: str
    tn: tuple[tuple[str, str], ...]


# The row groups of both prognostic tables (they share them). Footnotes of the AJCC tables:
# * T1 includes T1mi.
# * N1 (in "T0 N1, T1 N1") does not include N1mi: "T1 N1mi M0 and T0 N1mi M0 cancers are
#   included for prognostic staging with T1 N0 M0 cancers of the same prognostic factor status".
# * N1 (in "T2 N1, T3 N1, T4 N1") includes N1mi: "T2, T3 and T4 cancers and N1mi are included
#   for prognostic staging with T2 N1, T3 N1 and T4 N1, respectively".
# * "Any T N3" is read literally: every T category, TX and Tis included.
IN_SITU: Final = RowGroup("Tis N0 M0", (("Tis", "N0"),))
ROW_A: Final = RowGroup(
    "T1 N0 M0; T0 N1mi M0; T1 N1mi M0", (("T1", "N0"), ("T0", "N1mi"), ("T1", "N1mi"))
)
ROW_B: Final = RowGroup("T0 N1 M0; T1 N1 M0; T2 N0 M0", (("T0", "N1"), ("T1", "N1"), ("T2", "N0")))
ROW_C: Final = RowGroup("T2 N1 M0; T3 N0 M0", (("T2", "N1"), ("T2", "N1mi"), ("T3", "N0")))
ROW_D: Final = RowGroup(
    "T0 N2 M0; T1 N2 M0; T2 N2 M0; T3 N1 M0; T3 N2 M0",
    (("T0", "N2"), ("T1", "N2"), ("T2", "N2"), ("T3", "N1"), ("T3", "N1mi"), ("T3", "N2")),
)
ROW_E: Final = RowGroup(
    "T4 N0 M0; T4 N1 M0; T4 N2 M0; Any T N3 M0",
    (("T4", "N0"), ("T4", "N1"), ("T4", "N1mi"), ("T4", "N2"), (ANY, "N3")),
)
METASTATIC: Final = RowGroup("Any T Any N M1", ((ANY, ANY),))

PROGNOSTIC_ROW_GROUPS: Final = (ROW_A, ROW_B, ROW_C, ROW_D, ROW_E)

# Biomarker columns in the AJCC order, as (HER2, ER, PR).
BIOMARKER_COLUMNS: Final[tuple[tuple[Status, Status, Status], ...]] = (
    (POS, POS, POS),
    (POS, POS, NEG),
    (POS, NEG, POS),
    (POS, NEG, NEG),
    (NEG, POS, POS),
    (NEG, POS, NEG),
    (NEG, NEG, POS),
    (NEG, NEG, NEG),
)


@dataclass(frozen=True)
class PrognosticRow:
    """One cell of a prognostic table: row group x M x grade x HER2 x ER x PR -> stage.

    grade, her2, er and pr are ANY for the rows that hold whatever the biomarkers are (Tis N0 M0
    and M1).
    """

    group: RowGroup
    m: str
    grade: int | str
    her2: str
    er: str
    pr: str
    stage: str


def _grid(
    group: RowGroup, layout: dict[int, tuple[str, str, str, str, str, str, str, str]]
) -> tuple[PrognosticRow, ...]:
    """Expand one printed row group (grade -> 8 biomarker columns) into one row per cell."""
    return tuple(
        PrognosticRow(group, "M0", grade, her2, er, pr, stage)
        for grade, stages in layout.items()
        for (her2, er, pr), stage in zip(BIOMARKER_COLUMNS, stages, strict=True)
    )


_IN_SITU_ROW: Final = PrognosticRow(IN_SITU, "M0", ANY, ANY, ANY, ANY, "0")
_METASTATIC_ROW: Final = PrognosticRow(METASTATIC, "M1", ANY, ANY, ANY, ANY, "IV")

# AJCC 8th, Clinical Prognostic Stage Groups (2018 update).
#                   HER2-positive --------------------  HER2-negative -------------------
#                   ER+    ER+    ER-    ER-            ER+    ER+    ER-    ER-
#                   PR+    PR-    PR+    PR-            PR+    PR-    PR+    PR-
# fmt: off
CLINICAL_PROGNOSTIC_TABLE: Final[tuple[PrognosticRow, ...]] = (
    _IN_SITU_ROW,
    *_grid(ROW_A, {
        1: ("IA",   "IA",   "IA",   "IA",          "IA",   "IA",   "IA",   "IB"),
        2: ("IA",   "IA",   "IA",   "IA",          "IA",   "IA",   "IA",   "IB"),
        3: ("IA",   "IA",   "IA",   "IA",          "IA",   "IB",   "IB",   "IB"),
    }),
    *_grid(ROW_B, {
        1: ("IB",   "IIA",  "IIA",  "IIA",         "IB",   "IIA",  "IIA",  "IIA"),
        2: ("IB",   "IIA",  "IIA",  "IIA",         "IB",   "IIA",  "IIA",  "IIB"),
        3: ("IB",   "IIA",  "IIA",  "IIA",         "IIA",  "IIB",  "IIB",  "IIB"),
    }),
    *_grid(ROW_C, {
        1: ("IB",   "IIA",  "IIA",  "IIB",         "IIA",  "IIB",  "IIB",  "IIB"),
        2: ("IB",   "IIA",  "IIA",  "IIB",         "IIA",  "IIB",  "IIB",  "IIIB"),
        3: ("IB",   "IIB",  "IIB",  "IIB",         "IIB",  "IIIA", "IIIA", "IIIB"),
    }),
    *_grid(ROW_D, {
        1: ("IIA",  "IIIA", "IIIA", "IIIA",        "IIA",  "IIIA", "IIIA", "IIIB"),
        2: ("IIA",  "IIIA", "IIIA", "IIIA",        "IIA",  "IIIA", "IIIA", "IIIB"),
        3: ("IIB",  "IIIA", "IIIA", "IIIA",        "IIIA", "IIIB", "IIIB", "IIIC"),
    }),
    *_grid(ROW_E, {
        1: ("IIIA", "IIIB", "IIIB", "IIIB",        "IIIB", "IIIB", "IIIB", "IIIC"),
        2: ("IIIA", "IIIB", "IIIB", "IIIB",        "IIIB", "IIIB", "IIIB", "IIIC"),
        3: ("IIIB", "IIIB", "IIIB", "IIIB",        "IIIB", "IIIC", "IIIC", "IIIC"),
    }),
    _METASTATIC_ROW,
)
# fmt: on

# AJCC 8th, Pathological Prognostic Stage Groups (2018 update). Applies only when surgery is the
# initial treatment (see rules.py for the post-neoadjuvant decision).
#                   HER2-positive --------------------  HER2-negative -------------------
#                   ER+    ER+    ER-    ER-            ER+    ER+    ER-    ER-
#                   PR+    PR-    PR+    PR-            PR+    PR-    PR+    PR-
# fmt: off
PATHOLOGICAL_PROGNOSTIC_TABLE: Final[tuple[PrognosticRow, ...]] = (
    _IN_SITU_ROW,
    *_grid(ROW_A, {
        1: ("IA",   "IA",   "IA",   "IA",          "IA",   "IA",   "IA",   "IA"),
        2: ("IA",   "IA",   "IA",   "IA",          "IA",   "IA",   "IA",   "IB"),
        3: ("IA",   "IA",   "IA",   "IA",          "IA",   "IA",   "IA",   "IB"),
    }),
    *_grid(ROW_B, {
        1: ("IA",   "IB",   "IB",   "IIA",         "IA",   "IB",   "IB",   "IIA"),
        2: ("IA",   "IB",   "IB",   "IIA",         "IA",   "IIA",  "IIA",  "IIA"),
        3: ("IA",   "IIA",  "IIA",  "IIA",         "IB",   "IIA",  "IIA",  "IIA"),
    }),
    *_grid(ROW_C, {
        1: ("IA",   "IIB",  "IIB",  "IIB",         "IA",   "IIB",  "IIB",  "IIB"),
        2: ("IB",   "IIB",  "IIB",  "IIB",         "IB",   "IIB",  "IIB",  "IIB"),
        3: ("IB",   "IIB",  "IIB",  "IIB",         "IIA",  "IIB",  "IIB",  "IIIA"),
    }),
    *_grid(ROW_D, {
        1: ("IB",   "IIIA", "IIIA", "IIIA",        "IB",   "IIIA", "IIIA", "IIIA"),
        2: ("IB",   "IIIA", "IIIA", "IIIA",        "IB",   "IIIA", "IIIA", "IIIB"),
        # G3 HER2- ER- PR+ is IIIA (one public encoding has IIA; see the module docstring).
        3: ("IIA",  "IIIA", "IIIA", "IIIA",        "IIB",  "IIIA", "IIIA", "IIIC"),
    }),
    *_grid(ROW_E, {
        1: ("IIIA", "IIIB", "IIIB", "IIIB",        "IIIA", "IIIB", "IIIB", "IIIB"),
        2: ("IIIA", "IIIB", "IIIB", "IIIB",        "IIIA", "IIIB", "IIIB", "IIIC"),
        3: ("IIIB", "IIIB", "IIIB", "IIIB",        "IIIB", "IIIC", "IIIC", "IIIC"),
    }),
    _METASTATIC_ROW,
)
# fmt: on


@dataclass(frozen=True)
class GenomicRule:
    """The AJCC 8th "Genomic Profile for Pathological Prognostic Staging" row.

    AJCC: when T1 N0 M0 or T2 N0 M0 cancers are hormone receptor-positive (the table row reads
    ER-positive, PR any) and HER2-negative, and the 21-gene (Oncotype DX) recurrence score is
    less than 11, the pathological prognostic stage group is IA, whatever the grade. It is only
    part of the pathological table: the clinical prognostic stage does not use genomic data.
    If the test was not done, or the score is 11 or more, the table above applies.
    """

    group: RowGroup
    m: str
    grade: str
    her2: Status
    er: Status
    pr: str
    recurrence_score_below: int
    stage: str


ONCOTYPE_DX_RULE: Final = GenomicRule(
    group=RowGroup("T1 N0 M0 or T2 N0 M0", (("T1", "N0"), ("T2", "N0"))),
    m="M0",
    grade=ANY,
    her2=NEG,
    er=POS,
    pr=ANY,
    # SEER EOD "OncoType(c) Less Than 11": scores 000-010 qualify, 011-100 do not.
    recurrence_score_below=11,
    stage="IA",
)
