"""The board's own AJCC 8th stage groups for a case (or a reviewer's alternative),
and where they disagree with the groups that were submitted.

Pure: takes the stored stage and diagnosis dicts, returns frozen results with
their reasons; computed on every read, so nothing derived is stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from board.cases.clinical import split_prefix
from board.staging import EDITION, explain

_LABEL = {
    "anatomic": "anatomic stage",
    "clinical_prognostic": "clinical prognostic stage",
    "pathological_prognostic": "pathological prognostic stage",
}


@dataclass(frozen=True)
class ComputedGroup:
    kind: str
    stage: str | None
    categories: str  # e.g. "cT2 cN0 cM0"
    explanation: str
    edition: str = EDITION


@dataclass(frozen=True)
class StageFlag:
    kind: str
    submitted: str
    computed: str
    message: str


@dataclass(frozen=True)
class StageCheck:
    computed: tuple[ComputedGroup, ...]
    flags: tuple[StageFlag, ...]
    notes: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "edition": EDITION,
            "computed": {
                g.kind: {"stage": g.stage, "categories": g.categories, "explanation": g.explanation}
                for g in self.computed
            },
            "flags": [
                {
                    "kind": f.kind,
                    "submitted": f.submitted,
                    "computed": f.computed,
                    "message": f.message,
                }
                for f in self.flags
            ],
            "notes": list(self.notes),
        }


def _is_pathological(category: str | None) -> bool:
    return bool(category) and split_prefix(str(category))[0] in ("p", "yp")


def _category_sets(stage: Mapping[str, Any]) -> dict[str, tuple[str, str, str | None]]:
    """The clinical and the pathological (t, n, m), from the explicit fields or
    from t/n/m by their prefix."""
    sets: dict[str, tuple[str, str, str | None]] = {}
    t, n, m = stage.get("t"), stage.get("n"), stage.get("m")
    for basis in ("clinical", "pathological"):
        bt, bn = stage.get(f"{basis}_t"), stage.get(f"{basis}_n")
        bm = stage.get(f"{basis}_m")
        if not (bt and bn) and t and n and _is_pathological(t) == (basis == "pathological"):
            bt, bn, bm = t, n, m
        if bt and bn:
            sets[basis] = (str(bt), str(bn), str(bm) if bm else None)
    return sets


def check_stage(stage: Mapping[str, Any] | None, diagnosis: Mapping[str, Any] | None) -> StageCheck:
    stage, diagnosis = stage or {}, diagnosis or {}
    sets = _category_sets(stage)
    notes: list[str] = []
    wanted: list[tuple[str, str]] = []  # (kind, basis)
    if "clinical" in sets:
        wanted.append(("clinical_prognostic", "clinical"))
    if "pathological" in sets:
        wanted.append(("pathological_prognostic", "pathological"))
    if sets:
        # The anatomic group from the pathological categories when there are any:
        # they are the later and surer reading.
        wanted.insert(0, ("anatomic", "pathological" if "pathological" in sets else "clinical"))
    computed: list[ComputedGroup] = []
    for kind, basis in wanted:
        t, n, m = sets[basis]
        if m is None:
            m = "cM0"
            notes.append(
                f"No M category was given for the {basis} stage; cM0 (no distant "
                "metastasis found) is assumed."
            )
        try:
            result = explain(
                kind,
                t,
                n,
                m,
                grade=diagnosis.get("grade"),
                er=diagnosis.get("er"),
                pr=diagnosis.get("pr"),
                her2=diagnosis.get("her2"),
                recurrence_score=stage.get("recurrence_score"),
            )
        except ValueError as exc:
            notes.append(f"The {_LABEL[kind]} cannot be computed: {exc}.")
            continue
        computed.append(ComputedGroup(kind, result.stage, f"{t} {n} {m}", result.explanation))
    flags: list[StageFlag] = []
    for group in computed:
        submitted = stage.get(group.kind)
        if not submitted:
            continue
        if group.stage is None:
            notes.append(
                f"The submitted {_LABEL[group.kind]} {submitted} cannot be checked: "
                f"{group.explanation}"
            )
        elif str(submitted) != group.stage:
            flags.append(
                StageFlag(
                    group.kind,
                    str(submitted),
                    group.stage,
                    f"Submitted {_LABEL[group.kind]} {submitted}, but the board computes "
                    f"{group.stage}: {group.explanation}",
                )
            )
    return StageCheck(tuple(computed), tuple(flags), tuple(dict.fromkeys(notes)))
