"""Pure clinical consistency rules for the structured case.

Each rule returns what it derives and the problems it finds, in words a
pathologist would use. No Flask, SQLAlchemy or Celery; tested from tables in
tests/unit/test_clinical_rules.py. Sources:
- Nottingham grade: Elston & Ellis (1991), as in the CAP breast invasive
  carcinoma protocol: tubules + pleomorphism + mitoses, each 1-3; sum 3-5 is
  grade 1, 6-7 grade 2, 8-9 grade 3.
- ER/PR: ASCO/CAP 2020 guideline: < 1% negative, 1-10% "low positive", > 10%
  positive.
- HER2: ASCO/CAP 2018 guideline: IHC 0 and 1+ negative, 2+ equivocal (reflex to
  ISH), 3+ positive; dual-probe ISH group 1 (HER2/CEP17 >= 2.0 and >= 4.0 copies)
  positive, group 5 (< 2.0 and < 4.0 copies) negative, groups 2-4 settled with
  the concurrent IHC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str
    message: str


def nottingham_grade(tubules: int, pleomorphism: int, mitoses: int) -> int:
    for name, score in (("tubules", tubules), ("pleomorphism", pleomorphism), ("mitoses", mitoses)):
        if score not in (1, 2, 3):
            raise ValueError(f"nottingham.{name} must be 1, 2 or 3")
    total = tubules + pleomorphism + mitoses
    return 1 if total <= 5 else 2 if total <= 7 else 3


def receptor_status_for(percent: float) -> str:
    """ASCO/CAP 2020: the status a percentage of stained nuclei means."""
    if percent < 1:
        return "negative"
    if percent <= 10:
        return "low_positive"
    return "positive"


class IshGroup(enum.IntEnum):
    """ASCO/CAP 2018 dual-probe ISH groups."""

    AMPLIFIED = 1  # ratio >= 2.0, >= 4.0 copies
    RATIO_HIGH_COPIES_LOW = 2  # ratio >= 2.0, < 4.0 copies
    RATIO_LOW_COPIES_HIGH = 3  # ratio < 2.0, >= 6.0 copies
    RATIO_LOW_COPIES_MID = 4  # ratio < 2.0, 4.0-6.0 copies
    NOT_AMPLIFIED = 5  # ratio < 2.0, < 4.0 copies


def ish_group(ratio: float, copies: float) -> IshGroup:
    if ratio >= 2.0:
        return IshGroup.AMPLIFIED if copies >= 4.0 else IshGroup.RATIO_HIGH_COPIES_LOW
    if copies >= 6.0:
        return IshGroup.RATIO_LOW_COPIES_HIGH
    if copies >= 4.0:
        return IshGroup.RATIO_LOW_COPIES_MID
    return IshGroup.NOT_AMPLIFIED


def her2_status_for(ihc: str | None, ratio: float | None, copies: float | None) -> str | None:
    """The HER2 status the tests imply, or None when they settle nothing yet.

    IHC 3+ is positive on its own. Otherwise dual-probe ISH groups 1 and 5 decide;
    groups 2-4 are read with the concurrent IHC (0/1+ negative; 2+ needs the
    guideline's additional workup, so the reported status is taken as given).
    Without ISH, IHC 0/1+ is negative and 2+ equivocal.
    """
    if ihc == "3+":
        return "positive"
    if ratio is not None and copies is not None:
        group = ish_group(ratio, copies)
        if group is IshGroup.AMPLIFIED:
            return "positive"
        if group is IshGroup.NOT_AMPLIFIED:
            return "negative"
        return "negative" if ihc in ("0", "1+") else None
    if ihc in ("0", "1+"):
        return "negative"
    if ihc == "2+":
        return "equivocal"
    return None


@dataclass(frozen=True)
class DiagnosisCheck:
    derived: dict[str, object]
    problems: tuple[Problem, ...]


def check_diagnosis(d: dict[str, object]) -> DiagnosisCheck:
    """Derives grade, ER/PR and HER2 status from their components where the
    submitter left them out, and refuses combinations that cannot be true."""
    derived: dict[str, object] = {}
    problems: list[Problem] = []

    components = d.get("nottingham")
    if isinstance(components, dict):
        grade = nottingham_grade(
            int(components["tubules"]), int(components["pleomorphism"]), int(components["mitoses"])
        )
        total = sum(int(components[k]) for k in ("tubules", "pleomorphism", "mitoses"))
        given = d.get("grade")
        if given is None:
            derived["grade"] = grade
        elif given != grade:
            problems.append(
                Problem(
                    "grade",
                    f"grade {given} does not match the Nottingham components (score {total} is "
                    f"grade {grade}: 3-5 is grade 1, 6-7 grade 2, 8-9 grade 3)",
                )
            )

    for receptor in ("er", "pr"):
        percent = d.get(f"{receptor}_percent")
        if percent is None:
            continue
        implied = receptor_status_for(float(percent))  # type: ignore[arg-type]
        given = d.get(receptor)
        if given is None:
            derived[receptor] = implied
        elif given != implied:
            problems.append(
                Problem(
                    receptor,
                    f"{receptor.upper()} {percent:g}% is {implied.replace('_', ' ')}, not "
                    f"{str(given).replace('_', ' ')} (ASCO/CAP: < 1% negative, 1-10% low "
                    "positive, > 10% positive)",
                )
            )

    ihc = d.get("her2_ihc")
    ratio, copies = d.get("her2_ish_ratio"), d.get("her2_copy_number")
    if (ratio is None) != (copies is None):
        problems.append(
            Problem(
                "her2_ish_ratio",
                "give the HER2/CEP17 ratio and the HER2 copy number together (ASCO/CAP groups "
                "need both)",
            )
        )
        ratio = copies = None
    implied_her2 = her2_status_for(ihc, ratio, copies)  # type: ignore[arg-type]
    given_her2 = d.get("her2")
    if given_her2 is None and implied_her2 is not None:
        derived["her2"] = implied_her2
    elif given_her2 is not None and implied_her2 is not None and given_her2 != implied_her2:
        basis = (
            f"IHC {ihc}"
            if ihc == "3+" or ratio is None
            else f"ISH ratio {ratio:g} with {copies:g} copies"
        )
        problems.append(
            Problem(
                "her2",
                f"HER2 {basis} is {implied_her2}, not {given_her2} (ASCO/CAP 2018: IHC 0/1+ "
                "negative, 2+ equivocal until ISH, 3+ positive)",
            )
        )

    examined, positive = d.get("nodes_examined"), d.get("nodes_positive")
    if examined is not None and positive is not None and positive > examined:  # type: ignore[operator]
        problems.append(
            Problem(
                "nodes_positive", f"{positive} positive nodes cannot exceed the {examined} examined"
            )
        )

    histology = d.get("histologic_type")
    if histology in ("dcis", "lcis") and d.get("lymphovascular_invasion") is True:
        problems.append(
            Problem(
                "lymphovascular_invasion",
                f"lymphovascular invasion means invasive disease; {str(histology).upper()} is "
                "in situ (choose an invasive type, or record no LVI)",
            )
        )
    return DiagnosisCheck(derived, tuple(problems))


_PREFIXES = ("yc", "yp", "c", "p")


def split_prefix(category: str) -> tuple[str, str]:
    """("yp", "T1c") from "ypT1c"; a category with no prefix has prefix ""."""
    for prefix in _PREFIXES:
        if category.startswith(prefix) and category[len(prefix) :][:1] in ("T", "N", "M"):
            return prefix, category[len(prefix) :]
    return "", category


def check_stage(s: dict[str, object]) -> tuple[Problem, ...]:
    """Categories that cannot stand together (AJCC 8th): Tis is node-negative by
    definition; a clinical slot holds clinical categories and a pathological one
    pathological categories; one set of t, n, m is either clinical or pathological."""
    problems: list[Problem] = []
    sets = {
        "": ("t", "n", "m"),
        "clinical_": ("clinical_t", "clinical_n", "clinical_m"),
        "pathological_": ("pathological_t", "pathological_n", "pathological_m"),
    }
    for slot, fields in sets.items():
        values = {f: str(s[f]) for f in fields if s.get(f)}
        prefixes = {f: split_prefix(v)[0] for f, v in values.items()}
        families = {
            ("p" if p in ("p", "yp") else "c")
            for f, p in prefixes.items()
            if p and not f.endswith("_m") and f != "m"
        }
        if slot == "" and len(families) > 1:
            problems.append(
                Problem(
                    fields[0],
                    "mixes clinical (c) and pathological (p) categories; give them separately "
                    "as clinical_t/n/m and pathological_t/n/m",
                )
            )
        if slot == "clinical_":
            for f, p in prefixes.items():
                if p in ("p", "yp") and not f.endswith("_m"):
                    problems.append(
                        Problem(f, f"holds clinical categories (c or yc), not {values[f]}")
                    )
        if slot == "pathological_":
            for f, p in prefixes.items():
                if p in ("c", "yc") and not f.endswith("_m"):
                    problems.append(
                        Problem(f, f"holds pathological categories (p or yp), not {values[f]}")
                    )
        t_field, n_field = fields[0], fields[1]
        t = split_prefix(values.get(t_field, ""))[1]
        n = split_prefix(values.get(n_field, ""))[1]
        if t == "Tis" and n and not n.startswith("N0") and n != "NX":
            problems.append(
                Problem(
                    n_field,
                    f"Tis (in situ) cannot have nodal disease: with Tis, N must be N0 (got "
                    f"{values[n_field]}); nodal disease means an invasive T category",
                )
            )
    return tuple(problems)
