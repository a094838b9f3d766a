"""Normalisation of TNM categories and biomarkers, and the lookup in the AJCC 8th tables.

Pure: standard library only. The tables themselves are data in tables.py; this module decides
which row applies and says why. Decisions on the rules the tables leave to the text of the
chapter (AJCC 8th ed., ch. 48 Breast, 2018 update):

* Prefixes: c, p, yc and yp are accepted on T, N and M and stripped for the lookup. A y prefix
  on any of them marks the staging as post-neoadjuvant (see below).
* T1mi, T1a, T1b, T1c -> T1; T4a-T4d -> T4; Tis (DCIS) and Tis (Paget) -> Tis. Tis (LCIS) is
  rejected: the 8th edition removed LCIS from Tis (it is benign and not staged). A trailing
  multiplicity suffix "(m)" is ignored.
* N0(i+), N0(i-), N0(mol+), N0(mol-) -> N0 (isolated tumour cells are N0). N1a-N1c -> N1,
  N2a-N2b -> N2, N3a-N3c -> N3. N1mi is kept apart because the tables' footnotes place it
  with T1 N0 for T0/T1 (anatomic IB) and with N1 for T2-T4. A trailing "(sn)" or "(f)"
  modifier is ignored.
* M0(i+) -> M0. Any M1 is stage IV in every kind, also after neoadjuvant therapy (AJCC: M1
  before neoadjuvant therapy remains stage IV whatever the response). MX does not exist in the
  8th edition and is rejected.
* TX / NX: no stage group unless a row holds for any T or any N (M1 -> IV, and "Any T N3 M0"
  -> IIIC, which the table defines for every T, TX included).
* HER2 "equivocal" stages as HER2-negative (AJCC: HER2 equivocal by ISH is categorised as
  negative for staging). ER/PR "low_positive" (1-10% of cells) counts as positive (AJCC/ASCO-CAP
  define positivity as >= 1%).
* Prognostic kinds need grade, ER, PR and HER2: any of them missing -> no stage group (None),
  except for the rows that hold whatever the biomarkers are (Tis N0 M0 -> 0, M1 -> IV) and the
  Oncotype DX rule, whose row takes any grade and any PR.
* Oncotype DX rule (pathological prognostic only): T1 or T2 (any subcategory), N0 (including
  N0(i+) and N0(mol+), which are N0; N1mi is not), M0, ER-positive (the AJCC row reads
  ER-positive, PR any, so ER-negative/PR-positive does not qualify), HER2-negative, recurrence
  score < 11 -> IA whatever the grade and PR. A score of 11 or more, N1mi, HER2-positive or
  ER-negative leaves the table's stage.
* Post-neoadjuvant (yc/yp): AJCC 8th assigns no prognostic stage group to post-therapy
  categories. The clinical prognostic stage is assigned from the pre-treatment cTNM (with the
  y-prefixed categories it would be a different, undefined table), and the pathological
  prognostic stage applies only to patients whose initial treatment is surgery. So both
  prognostic kinds give None (M1 still gives IV). The anatomic table is used with ypT/ypN,
  except that AJCC assigns no stage group after a complete pathological response: no residual
  invasive carcinoma in breast and nodes, i.e. ypT0 or ypTis with ypN0 (ypN0(i+) and
  ypN0(mol+), residual tumour cells in nodes, are not a complete response).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Final, Literal

from board.staging.tables import (
    ANATOMIC_TABLE,
    ANATOMIC_TABLE_NAME,
    ANY,
    CLINICAL_PROGNOSTIC_TABLE,
    CLINICAL_TABLE_NAME,
    ONCOTYPE_DX_RULE,
    PATHOLOGICAL_PROGNOSTIC_TABLE,
    PATHOLOGICAL_TABLE_NAME,
    AnatomicRow,
    PrognosticRow,
    RowGroup,
    Status,
)

Kind = Literal["anatomic", "clinical_prognostic", "pathological_prognostic"]
KINDS: Final[tuple[Kind, ...]] = ("anatomic", "clinical_prognostic", "pathological_prognostic")

# Which rule decided the result; stable identifiers for callers, words are in `explanation`.
Rule = Literal[
    "table",
    "in_situ",
    "distant_metastasis",
    "oncotype_dx",
    "missing_biomarkers",
    "not_assessable",
    "no_stage_group",
    "post_neoadjuvant",
    "complete_response",
]

EDITION: Final = "AJCC 8th"

_KIND_WORDS: Final[dict[Kind, str]] = {
    "anatomic": "anatomic stage",
    "clinical_prognostic": "clinical prognostic stage",
    "pathological_prognostic": "pathological prognostic stage",
}
_TABLE_NAME: Final[dict[Kind, str]] = {
    "anatomic": ANATOMIC_TABLE_NAME,
    "clinical_prognostic": CLINICAL_TABLE_NAME,
    "pathological_prognostic": PATHOLOGICAL_TABLE_NAME,
}

# category (lower case, no prefix) -> (canonical spelling, table group)
_T_CATEGORIES: Final[dict[str, tuple[str, str]]] = {
    "tx": ("TX", "TX"),
    "tis": ("Tis", "Tis"),
    "tis(dcis)": ("Tis(DCIS)", "Tis"),
    "tis(paget)": ("Tis(Paget)", "Tis"),
    "t0": ("T0", "T0"),
    "t1mi": ("T1mi", "T1"),
    "t1": ("T1", "T1"),
    "t1a": ("T1a", "T1"),
    "t1b": ("T1b", "T1"),
    "t1c": ("T1c", "T1"),
    "t2": ("T2", "T2"),
    "t3": ("T3", "T3"),
    "t4": ("T4", "T4"),
    "t4a": ("T4a", "T4"),
    "t4b": ("T4b", "T4"),
    "t4c": ("T4c", "T4"),
    "t4d": ("T4d", "T4"),
}
_N_CATEGORIES: Final[dict[str, tuple[str, str]]] = {
    "nx": ("NX", "NX"),
    "n0": ("N0", "N0"),
    "n0(i-)": ("N0(i-)", "N0"),
    "n0(i+)": ("N0(i+)", "N0"),
    "n0(mol-)": ("N0(mol-)", "N0"),
    "n0(mol+)": ("N0(mol+)", "N0"),
    "n1mi": ("N1mi", "N1mi"),
    "n1": ("N1", "N1"),
    "n1a": ("N1a", "N1"),
    "n1b": ("N1b", "N1"),
    "n1c": ("N1c", "N1"),
    "n2": ("N2", "N2"),
    "n2a": ("N2a", "N2"),
    "n2b": ("N2b", "N2"),
    "n3": ("N3", "N3"),
    "n3a": ("N3a", "N3"),
    "n3b": ("N3b", "N3"),
    "n3c": ("N3c", "N3"),
}
_M_CATEGORIES: Final[dict[str, tuple[str, str]]] = {
    "m0": ("M0", "M0"),
    "m0(i+)": ("M0(i+)", "M0"),
    "m1": ("M1", "M1"),
}
# N0 categories that are a complete nodal response after neoadjuvant therapy (no tumour cells).
_NODE_NEGATIVE_WITHOUT_TUMOUR_CELLS: Final = frozenset({"N0", "N0(i-)", "N0(mol-)"})

_PREFIX: Final = re.compile(r"^(yc|yp|c|p)?(.*)$")
_PREFIXES_WORDS: Final = "optionally prefixed c, p, yc or yp"

_RECEPTOR_VALUES: Final = ("positive", "negative", "low_positive")
_HER2_VALUES: Final = ("positive", "negative", "equivocal")
_GRADES: Final = (1, 2, 3)


@dataclass(frozen=True)
class NormalizedInputs:
    """The inputs as the tables read them, and what normalisation did to them."""

    kind: Kind
    t: str  # table group: TX, Tis, T0, T1, T2, T3, T4
    n: str  # table group: NX, N0, N1mi, N1, N2, N3
    m: str  # M0 or M1
    t_category: str  # the category as given, canonical spelling, prefix stripped (e.g. "T1c")
    n_category: str  # e.g. "N0(i+)"
    m_category: str  # e.g. "M0(i+)"
    t_prefix: str  # "", "c", "p", "yc" or "yp"
    n_prefix: str
    m_prefix: str
    post_neoadjuvant: bool  # a yc/yp prefix on T, N or M
    grade: int | None
    er: Status | None
    pr: Status | None
    her2: Status | None
    recurrence_score: float | None
    notes: tuple[str, ...]

    @property
    def tnm(self) -> str:
        return f"{self.t} {self.n} {self.m}"

    @property
    def tnm_as_given(self) -> str:
        return (
            f"{self.t_prefix}{self.t_category} {self.n_prefix}{self.n_category} "
            f"{self.m_prefix}{self.m_category}"
        )


@dataclass(frozen=True)
class StageResult:
    """A stage group with the table, row and rule that gave it, in words."""

    stage: str | None
    kind: Kind
    explanation: str
    inputs: NormalizedInputs
    rule: Rule
    table: str | None = None
    row: str | None = None
    edition: str = EDITION


def _raw(field: str, value: object, allowed: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field}: expected a string, got {value!r}; allowed: {allowed}")
    return re.sub(r"\s+", "", value).lower()


def _category(
    field: str, value: object, table: dict[str, tuple[str, str]], suffixes: tuple[str, ...]
) -> tuple[str, str, str]:
    """Parse one T/N/M category -> (prefix, canonical category, table group)."""
    allowed = ", ".join(canonical for canonical, _ in table.values())
    allowed = f"{allowed} ({_PREFIXES_WORDS})"
    raw = _raw(field, value, allowed)
    match = _PREFIX.match(raw)
    prefix, body = (match.group(1) or "", match.group(2)) if match else ("", raw)
    for suffix in suffixes:
        if body.endswith(suffix) and body[: -len(suffix)] in table:
            body = body[: -len(suffix)]
            break
    if body not in table:
        if field == "t" and body == "tis(lcis)":
            raise ValueError(
                "t: Tis (LCIS) is not staged in the AJCC 8th edition (LCIS was removed from "
                f"Tis); allowed: {allowed}"
            )
        if field == "m" and body == "mx":
            raise ValueError(f"m: MX is not an AJCC 8th edition category; allowed: {allowed}")
        raise ValueError(f"{field}: unknown category {value!r}; allowed: {allowed}")
    canonical, group = table[body]
    return prefix, canonical, group


def _grade(value: object) -> int | None:
    allowed = "1, 2, 3 (or G1, G2, G3), or None/GX when unknown"
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(f"grade: expected 1, 2 or 3, got {value!r}; allowed: {allowed}")
    if isinstance(value, int):
        if value in _GRADES:
            return value
        raise ValueError(f"grade: {value!r} is not a Nottingham grade; allowed: {allowed}")
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("g")
        if text == "x":
            return None
        if text in {"1", "2", "3"}:
            return int(text)
    raise ValueError(f"grade: {value!r} is not a Nottingham grade; allowed: {allowed}")


def _status(field: str, value: object, allowed: tuple[str, ...]) -> tuple[Status | None, str]:
    """-> (positive/negative or None, a note when the value was mapped)."""
    if value is None:
        return None, ""
    words = ", ".join(allowed) + ", or None when unknown"
    if not isinstance(value, str):
        raise ValueError(f"{field}: expected a string, got {value!r}; allowed: {words}")
    text = re.sub(r"[\s-]+", "_", value.strip().lower())
    if text not in allowed:
        raise ValueError(f"{field}: unknown status {value!r}; allowed: {words}")
    if text == "low_positive":
        return "positive", f"{field.upper()} low positive (1-10%) counted as positive"
    if text == "equivocal":
        return "negative", "HER2 equivocal staged as HER2-negative"
    return ("positive" if text == "positive" else "negative"), ""


def _recurrence_score(value: object) -> float | None:
    allowed = "a 21-gene recurrence score from 0 to 100, or None"
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"recurrence_score: expected a number, got {value!r}; allowed: {allowed}")
    if math.isnan(value) or not 0 <= value <= 100:
        raise ValueError(f"recurrence_score: {value!r} is out of range; allowed: {allowed}")
    return value


def normalize(
    kind: object,
    t: object,
    n: object,
    m: object,
    grade: object = None,
    er: object = None,
    pr: object = None,
    her2: object = None,
    recurrence_score: object = None,
) -> NormalizedInputs:
    """Validate every input (raising ValueError naming the field) and map it to table terms."""
    known_kind = next((k for k in KINDS if k == kind), None)
    if known_kind is None:
        raise ValueError(f"kind: unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    t_prefix, t_category, t_group = _category("t", t, _T_CATEGORIES, ("(m)",))
    n_prefix, n_category, n_group = _category("n", n, _N_CATEGORIES, ("(sn)", "(f)"))
    m_prefix, m_category, m_group = _category("m", m, _M_CATEGORIES, ())
    er_status, er_note = _status("er", er, _RECEPTOR_VALUES)
    pr_status, pr_note = _status("pr", pr, _RECEPTOR_VALUES)
    her2_status, her2_note = _status("her2", her2, _HER2_VALUES)

    notes = []
    if t_category != t_group:
        notes.append(f"{t_category} staged as {t_group}")
    if n_category != n_group:
        notes.append(f"{n_category} staged as {n_group}")
    if m_category != m_group:
        notes.append(f"{m_category} staged as {m_group}")
    notes.extend(note for note in (er_note, pr_note, her2_note) if note)

    return NormalizedInputs(
        kind=known_kind,
        t=t_group,
        n=n_group,
        m=m_group,
        t_category=t_category,
        n_category=n_category,
        m_category=m_category,
        t_prefix=t_prefix,
        n_prefix=n_prefix,
        m_prefix=m_prefix,
        post_neoadjuvant=any(p.startswith("y") for p in (t_prefix, n_prefix, m_prefix)),
        grade=_grade(grade),
        er=er_status,
        pr=pr_status,
        her2=her2_status,
        recurrence_score=_recurrence_score(recurrence_score),
        notes=tuple(notes),
    )


def _sign(status: Status | None, name: str) -> str:
    if status is None:
        return f"{name} unknown"
    return f"{name}{'+' if status == 'positive' else '-'}"


def _describe(inputs: NormalizedInputs, with_biomarkers: bool) -> str:
    text = inputs.tnm_as_given
    if (inputs.t_category, inputs.n_category, inputs.m_category) != (inputs.t, inputs.n, inputs.m):
        text += f" (as {inputs.tnm})"
    if with_biomarkers:
        grade = "grade unknown" if inputs.grade is None else f"grade {inputs.grade}"
        markers = " ".join(
            (_sign(inputs.er, "ER"), _sign(inputs.pr, "PR"), _sign(inputs.her2, "HER2"))
        )
        text += f", {grade}, {markers}"
    if inputs.recurrence_score is not None:
        score = _score_text(inputs.recurrence_score)
        relation = (
            "<" if inputs.recurrence_score < ONCOTYPE_DX_RULE.recurrence_score_below else ">="
        )
        text += f", recurrence score {score} {relation} {ONCOTYPE_DX_RULE.recurrence_score_below}"
    return text


def _score_text(score: float) -> str:
    return str(int(score)) if float(score).is_integer() else str(score)


def _result(
    inputs: NormalizedInputs,
    stage: str | None,
    rule: Rule,
    because: str,
    table: str | None = None,
    row: str | None = None,
    extra_notes: tuple[str, ...] = (),
) -> StageResult:
    prognostic = inputs.kind != "anatomic"
    head = _describe(inputs, with_biomarkers=prognostic)
    what = _KIND_WORDS[inputs.kind]
    verdict = f"{what} {stage}" if stage is not None else f"no {what}"
    # "(AJCC 8th Clinical Prognostic Stage Groups table, row ...)" or "(AJCC 8th, <rule>)".
    joiner = " " if table is not None and because.startswith(table) else ", "
    explanation = f"{head}: {verdict} ({EDITION}{joiner}{because})."
    if inputs.notes:
        explanation += " Normalised: " + "; ".join(inputs.notes) + "."
    if extra_notes:
        explanation += " Note: " + "; ".join(extra_notes) + "."
    return StageResult(
        stage=stage,
        kind=inputs.kind,
        explanation=explanation,
        inputs=inputs,
        rule=rule,
        table=table,
        row=row,
    )


def _matches(pattern: str, value: str) -> bool:
    return pattern in (ANY, value)


def _in_group(group: RowGroup, t: str, n: str) -> bool:
    return any(_matches(pt, t) and _matches(pn, n) for pt, pn in group.tn)


def _cell_label(row: PrognosticRow) -> str:
    def part(name: str, value: int | str) -> str:
        if value == ANY:
            return f"any {name}"
        if name == "grade":
            return f"G{value}"
        return f"{name}{'+' if value == 'positive' else '-'}"

    cells = (part("grade", row.grade), part("HER2", row.her2), part("ER", row.er))
    return " / ".join((row.group.label, *cells, part("PR", row.pr)))


def _score_note(inputs: NormalizedInputs) -> tuple[str, ...]:
    """Say why a recurrence score that was given did not change the stage."""
    if inputs.recurrence_score is None:
        return ()
    if inputs.kind != "pathological_prognostic":
        return (
            f"recurrence score not used: genomic data only enters the {PATHOLOGICAL_TABLE_NAME}",
        )
    return (
        "recurrence score not used: the Oncotype DX rule needs T1-2 N0 M0, ER-positive, "
        "HER2-negative and a score < 11",
    )


def _oncotype_applies(inputs: NormalizedInputs) -> bool:
    rule = ONCOTYPE_DX_RULE
    return (
        inputs.kind == "pathological_prognostic"
        and inputs.recurrence_score is not None
        and inputs.recurrence_score < rule.recurrence_score_below
        and inputs.m == rule.m
        and _in_group(rule.group, inputs.t, inputs.n)
        and inputs.er == rule.er
        and inputs.her2 == rule.her2
    )


def _anatomic(inputs: NormalizedInputs) -> StageResult:
    table = ANATOMIC_TABLE_NAME
    if (
        inputs.post_neoadjuvant
        and inputs.t in {"T0", "Tis"}
        and inputs.n_category in _NODE_NEGATIVE_WITHOUT_TUMOUR_CELLS
        and inputs.m == "M0"
    ):
        return _result(
            inputs,
            None,
            "complete_response",
            "no stage group is assigned after a complete pathological response to neoadjuvant "
            "therapy: no residual invasive carcinoma in breast or nodes",
        )
    row: AnatomicRow | None = next(
        (
            r
            for r in ANATOMIC_TABLE
            if _matches(r.t, inputs.t) and _matches(r.n, inputs.n) and r.m == inputs.m
        ),
        None,
    )
    if row is None:
        return _no_row(inputs, table)
    rule: Rule = "table"
    if row.m == "M1":
        rule = "distant_metastasis"
    elif row.t == "Tis":
        rule = "in_situ"
    because = f"{table}, row {row.label}"
    if row.note:
        because += f": {row.note}"
    return _result(inputs, row.stage, rule, because, table=table, row=row.label)


def _no_row(inputs: NormalizedInputs, table: str) -> StageResult:
    if inputs.t == "TX" or inputs.n == "NX":
        return _result(
            inputs,
            None,
            "not_assessable",
            f"{inputs.t if inputs.t == 'TX' else inputs.n} cannot be assessed and no row of "
            f"the {table} holds whatever it is",
            table=table,
        )
    return _result(
        inputs,
        None,
        "no_stage_group",
        f"the {table} defines no stage group for {inputs.tnm}",
        table=table,
    )


@cache
def _candidates(kind: str, m: str, t: str, n: str) -> tuple[PrognosticRow, ...]:
    """The prognostic table's rows for one T, N and M, in table order. Remembered per
    combination (a few hundred exist): the tables never change, and scanning every row
    of them on each page view was the most of what staging cost."""
    rows = (
        CLINICAL_PROGNOSTIC_TABLE
        if kind == "clinical_prognostic"
        else PATHOLOGICAL_PROGNOSTIC_TABLE
    )
    return tuple(r for r in rows if r.m == m and _in_group(r.group, t, n))


def _prognostic(inputs: NormalizedInputs) -> StageResult:
    kind = inputs.kind
    table = _TABLE_NAME[kind]
    rows = (
        CLINICAL_PROGNOSTIC_TABLE
        if kind == "clinical_prognostic"
        else PATHOLOGICAL_PROGNOSTIC_TABLE
    )
    if inputs.m == "M1":
        metastatic = next(r for r in rows if r.m == "M1")
        return _result(
            inputs,
            metastatic.stage,
            "distant_metastasis",
            f"{table}, row {metastatic.group.label}: any M1 is stage IV",
            table=table,
            row=_cell_label(metastatic),
        )
    if inputs.post_neoadjuvant:
        return _result(
            inputs,
            None,
            "post_neoadjuvant",
            "prognostic stage groups are not assigned from post-neoadjuvant (yc/yp) categories: "
            "the clinical prognostic stage uses the pre-treatment cTNM, and the pathological "
            "prognostic stage applies only when surgery is the initial treatment",
        )
    candidates = _candidates(kind, inputs.m, inputs.t, inputs.n)
    if not candidates:
        return _no_row(inputs, table)
    group = candidates[0].group
    if all(r.grade == ANY for r in candidates):
        # Tis N0 M0: one row, whatever the grade and biomarkers.
        row = candidates[0]
        return _result(
            inputs,
            row.stage,
            "in_situ",
            f"{table}, row {group.label}: stage {row.stage} whatever the grade and biomarkers",
            table=table,
            row=_cell_label(row),
            extra_notes=_score_note(inputs),
        )
    if _oncotype_applies(inputs):
        rule = ONCOTYPE_DX_RULE
        return _result(
            inputs,
            rule.stage,
            "oncotype_dx",
            f"Oncotype DX rule of the {table}: {rule.group.label}, ER-positive, HER2-negative "
            f"and recurrence score < {rule.recurrence_score_below} is stage {rule.stage} "
            "whatever the grade and PR",
            table=table,
            row=f"{rule.group.label} / any grade / HER2- / ER+ / any PR / "
            f"recurrence score < {rule.recurrence_score_below}",
        )
    missing = [
        name
        for name, value in (
            ("grade", inputs.grade),
            ("ER", inputs.er),
            ("PR", inputs.pr),
            ("HER2", inputs.her2),
        )
        if value is None
    ]
    if missing:
        return _result(
            inputs,
            None,
            "missing_biomarkers",
            f"{table}, row {group.label} needs {', '.join(missing)}",
            table=table,
            extra_notes=_score_note(inputs),
        )
    row = next(
        r
        for r in candidates
        if r.grade == inputs.grade
        and r.her2 == inputs.her2
        and r.er == inputs.er
        and r.pr == inputs.pr
    )
    return _result(
        inputs,
        row.stage,
        "table",
        f"{table}, row {_cell_label(row)}",
        table=table,
        row=_cell_label(row),
        extra_notes=_score_note(inputs),
    )


def evaluate(inputs: NormalizedInputs) -> StageResult:
    """Stage normalised inputs with the table of their kind."""
    if inputs.kind == "anatomic":
        return _anatomic(inputs)
    return _prognostic(inputs)
