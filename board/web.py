"""What every page shares: forms built from the schemas, choices, role checks.

Form fields are named by their path in the schema ("patient.name"), so one
pydantic schema validates the JSON API and the pages alike.
"""

from __future__ import annotations

import re
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from flask import redirect, request, url_for
from flask_login import current_user
from pydantic import BaseModel
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from board.auth.models import User
from board.auth.roles import SPECIALTY_LABEL, Role, Specialty
from board.cases import schemas
from board.cases.case_file import FileRecord, FileReview
from board.cases.models import Case, Record
from board.cases.rules import (
    RECORD_LABEL,
    STATUS_LABEL,
    TIMEPOINT_LABEL,
    CaseStatus,
    RecordKind,
    Timepoint,
)
from board.cases.stage_check import StageCheck, check_stage
from board.errors import NotFound
from board.reviews.alternatives import alternative_staging
from board.reviews.models import Review, Severity, Verdict
from board.reviews.rules import DifferReason, Retest
from board.staging import EDITION
from board.validation import MAX_ID, FieldError

Page = str | tuple[str, int]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model a field holds, also inside `X | None`, `Annotated[...]` and
    the tagged `X | str` union of a reviewer's alternative."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _list_item(annotation: Any) -> tuple[bool, Any]:
    """Whether a field holds a list, also inside `X | None` and `Annotated[...]`, and
    the type of its items."""
    origin = get_origin(annotation)
    if origin is list:
        args = get_args(annotation)
        return True, args[0] if args else Any
    if origin is Annotated:
        return _list_item(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _list_item(arg)
            if found[0]:
                return found
    return False, None


def _is_dict(annotation: Any) -> bool:
    """Whether a field holds a mapping (e.g. `sources`), also inside `X | None`."""
    if get_origin(annotation) is dict:
        return True
    if get_origin(annotation) in (Union, types.UnionType, Annotated):
        return any(_is_dict(arg) for arg in get_args(annotation))
    return False


_ROW = re.compile(r"^(?P<list>.+?)\.(?P<index>\d+)\.(?P<field>[^.].*)$")


def _row_indices(form: MultiDict[str, str], key: str) -> list[int]:
    found = set()
    for name in form:
        match = _ROW.match(name)
        if match and match["list"] == key:
            found.add(int(match["index"]))
    return sorted(found)


def compact_rows(form: MultiDict[str, str]) -> MultiDict[str, str]:
    """The form with the rows of every repeated group ("plan.medications.<i>.<field>")
    that were left empty taken out and the rest numbered 0, 1, 2, ... in order.

    form_data drops empty rows, so an error pydantic reports on item 1 is on the
    second filled row: renumbering the form the same way puts each message beside
    the row it is about when the form is shown again."""
    filled: dict[str, list[int]] = {}
    for name, value in form.items(multi=True):
        match = _ROW.match(name)
        if match and value.strip():
            rows = filled.setdefault(match["list"], [])
            if int(match["index"]) not in rows:
                rows.append(int(match["index"]))
    out: MultiDict[str, str] = MultiDict()
    for name, value in form.items(multi=True):
        match = _ROW.match(name)
        if match is None:
            out.add(name, value)
            continue
        rows = sorted(filled.get(match["list"], []))
        index = int(match["index"])
        if index in rows:
            out.add(f"{match['list']}.{rows.index(index)}.{match['field']}", value)
    return out


def form_data(
    model: type[BaseModel], form: MultiDict[str, str], prefix: str = ""
) -> dict[str, Any]:
    """Builds the nested body a schema expects from form fields named by their path.

    Empty fields are left out, so an optional field stays unset and a required one
    is reported as required. The schema (pydantic, lax) reads "2", "true" and
    "1968-03-14" as the number, boolean and date they are. A list of scalars comes
    from repeated fields ("requested_specialties" twice); a list of models from
    numbered rows ("plan.medications.0.name"), where a row left empty is dropped
    (pass the form through compact_rows first to keep row numbers and errors
    aligned); a mapping from its keys ("diagnosis.sources.grade").
    """
    out: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        is_list, item = _list_item(field.annotation)
        if is_list:
            row_model = _model_in(item)
            if row_model is not None:
                rows = [form_data(row_model, form, f"{key}.{i}.") for i in _row_indices(form, key)]
                if any(rows):
                    out[name] = [row for row in rows if row]
                continue
            values = [v.strip() for v in form.getlist(key) if v.strip()]
            if values:
                out[name] = values
            continue
        if _is_dict(field.annotation):
            entries = {
                k[len(key) + 1 :]: v.strip()
                for k, v in form.items()
                if k.startswith(f"{key}.") and "." not in k[len(key) + 1 :] and v.strip()
            }
            if entries:
                out[name] = entries
            continue
        sub = _model_in(field.annotation)
        if sub is not None:
            nested = form_data(sub, form, f"{key}.")
            if nested or field.is_required():
                out[name] = nested
        else:
            value = form.get(key, "").strip()
            if value:
                out[name] = value
    return out


def errors_by_field(errors: Iterable[FieldError]) -> dict[str, str]:
    """Messages keyed by form field name. An error on an item of a list of values
    ("requested_specialties.1") goes to the list's field; one on a field of a row
    ("plan.medications.0.dose") stays with that row's field."""
    out: dict[str, str] = {}
    for error in errors:
        parts = error.field.split(".")
        while parts and parts[-1].isdigit():
            parts.pop()
        key = ".".join(parts) or "body"
        out[key] = f"{out[key]}; {error.message}" if key in out else error.message
    return out


def flatten(data: dict[str, Any] | None, prefix: str = "") -> MultiDict[str, str]:
    """The inverse of form_data: stored JSON as form values, to fill a form again."""
    out: MultiDict[str, str] = MultiDict()
    for key, value in (data or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict):
                    out.update(flatten(item, f"{name}.{index}."))
                else:
                    out.add(name, str(item))
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif isinstance(value, float) and value.is_integer():
            out[name] = str(int(value))
        elif value is not None:
            out[name] = str(value)
    return out


def row_count(form: MultiDict[str, str], key: str) -> int:
    """How many rows of a repeated group ("plan.medications") the form holds."""
    indices = _row_indices(form, key)
    return indices[-1] + 1 if indices else 0


def rows_to_show(form: MultiDict[str, str], key: str, blank: int = 2, minimum: int = 3) -> int:
    """How many rows a repeated group's table offers: the filled ones and a few blank."""
    return max(minimum, row_count(form, key) + blank)


# Why a reviewer differs and what they would re-test, in words (board/reviews/rules.py).
REASON_LABEL: dict[Any, str] = {
    DifferReason.HISTOLOGIC_TYPE: "histologic type",
    DifferReason.GRADE: "grade",
    DifferReason.LYMPHOVASCULAR_INVASION: "lymphovascular invasion",
    DifferReason.NODAL_STATUS: "nodal status",
    DifferReason.MARGINS: "margins",
    DifferReason.ER_PR: "ER / PR status",
    DifferReason.HER2: "HER2 status",
    DifferReason.TUMOUR_SIZE: "tumour size (T)",
    DifferReason.IMAGING_EXTENT: "extent of disease on imaging",
    DifferReason.ADDITIONAL_LESION: "an additional lesion",
    DifferReason.SURGERY_CHOICE: "choice of surgery",
    DifferReason.SYSTEMIC_THERAPY: "systemic therapy",
    DifferReason.RADIATION: "radiation",
}
RETEST_LABEL: dict[Any, str] = {
    Retest.HER2_ISH: "HER2 by in-situ hybridisation (ISH)",
    Retest.HER2_IHC: "HER2 by immunohistochemistry (IHC)",
    Retest.ER_PR: "ER and PR",
    Retest.KI67: "Ki-67",
    Retest.GENOMIC_ASSAY: "a genomic assay (e.g. the 21-gene recurrence score)",
    Retest.REPEAT_BIOPSY: "a repeat biopsy",
    Retest.ADDITIONAL_IMAGING: "additional imaging",
}
# The reasons each dimension's form offers first: the categories second-opinion
# studies count for that dimension. (A reason the alternative implies is added by
# the service whatever the form offered.)
_R = DifferReason
REASONS_FOR = {
    "diagnosis": [
        _R.HISTOLOGIC_TYPE,
        _R.GRADE,
        _R.LYMPHOVASCULAR_INVASION,
        _R.NODAL_STATUS,
        _R.MARGINS,
        _R.ER_PR,
        _R.HER2,
    ],
    "stage": [
        _R.TUMOUR_SIZE,
        _R.NODAL_STATUS,
        _R.IMAGING_EXTENT,
        _R.ADDITIONAL_LESION,
        _R.GRADE,
        _R.ER_PR,
        _R.HER2,
    ],
    "plan": [
        _R.SURGERY_CHOICE,
        _R.SYSTEMIC_THERAPY,
        _R.RADIATION,
        _R.ADDITIONAL_LESION,
        _R.MARGINS,
        _R.ER_PR,
        _R.HER2,
    ],
}


def label_of(table: dict[Any, str], value: str) -> str:
    for key, label in table.items():
        if key == value:
            return label
    return value.replace("_", " ")


def _options(enum: Iterable[Any], labels: dict[Any, str] | None = None) -> list[tuple[str, str]]:
    return [(e.value, labels[e] if labels else str(e.value).replace("_", " ")) for e in enum]


# The choices every form offers, from the same enums the schemas validate against.
CHOICES = types.SimpleNamespace(
    sex=_options(schemas.Sex),
    timepoint=_options(Timepoint, TIMEPOINT_LABEL),
    specialty=_options(Specialty, SPECIALTY_LABEL),
    histologic_type=[
        (
            e.value,
            "DCIS"
            if e is schemas.HistologicType.DCIS
            else "LCIS"
            if e is schemas.HistologicType.LCIS
            else "invasive ductal (no special type)"
            if e is schemas.HistologicType.INVASIVE_DUCTAL
            else e.value.replace("_", " "),
        )
        for e in schemas.HistologicType
    ],
    laterality=_options(schemas.Laterality),
    grade=[("1", "1"), ("2", "2"), ("3", "3")],
    score=[("1", "1"), ("2", "2"), ("3", "3")],
    receptor=_options(schemas.ReceptorStatus),
    intensity=_options(schemas.Intensity),
    her2=_options(schemas.Her2Status),
    her2_ihc=_options(schemas.Her2Ihc),
    margin=_options(schemas.Margin),
    stage_group=_options(schemas.StageGroup),
    surgery=_options(schemas.Surgery),
    dose_unit=_options(schemas.DoseUnit),
    route=_options(schemas.Route),
    yes_no=[("true", "yes"), ("false", "no")],
    differ_reason=_options(DifferReason, REASON_LABEL),
    retest=_options(Retest, RETEST_LABEL),
    reasons_for={d: [(r.value, REASON_LABEL[r]) for r in rs] for d, rs in REASONS_FOR.items()},
    record_kind=_options(RecordKind, RECORD_LABEL),
    status=_options(CaseStatus, STATUS_LABEL),
    verdict=_options(Verdict),
    severity=[
        (Severity.MINOR.value, "minor: no change in management"),
        (Severity.MAJOR.value, "major: changes management"),
    ],
)


def me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined,no-any-return]


def require_role(*roles: Role) -> User:
    """Role-only pages answer 404 to everyone else, like a missing page."""
    user = me()
    if Role(user.role) not in roles:
        raise NotFound()
    return user


def id_arg(name: str) -> int | None:
    """A list page's keyset argument (?before=<id>, ?after=<id>): the id, or None when it
    is absent or not an id (the first page then)."""
    value = request.args.get(name, "")
    if value.isascii() and value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    return None


def back_to(case_id: int) -> Response:
    """Where a coordinator's staffing form returns: the case's reviewers page when it was
    posted from there (a hidden `back` field), else the case page."""
    if request.form.get("back") == "staffing":
        return see_other("cases.staffing", case_id=case_id)
    return see_other("cases.detail", case_id=case_id)


def see_other(endpoint: str, **values: Any) -> Response:
    return redirect(url_for(endpoint, **values), code=303)


# --- What the pages show beside the structured case -----------------------------------

GROUP_LABEL = {
    "anatomic": "anatomic stage",
    "clinical_prognostic": "clinical prognostic stage",
    "pathological_prognostic": "pathological prognostic stage",
}


@dataclass(frozen=True)
class GroupView:
    """One stage group as a page shows it: what was submitted beside what the board
    computes (AJCC 8th), and whether they differ."""

    kind: str
    submitted: str | None
    computed: str | None
    explanation: str | None
    flagged: bool


@dataclass(frozen=True)
class StageView:
    check: StageCheck
    groups: dict[str, GroupView]
    warnings: list[str]

    @property
    def notes(self) -> tuple[str, ...]:
        return self.check.notes

    @property
    def edition(self) -> str:
        return EDITION


def stage_view(stage: Mapping[str, Any] | None, diagnosis: Mapping[str, Any] | None) -> StageView:
    """The board's own stage groups for a stage and the markers it is read with, and a
    sentence for every submitted group that differs (board.cases.stage_check)."""
    return _stage_view(check_stage(stage, diagnosis), stage or {}, "The submitted")


def _stage_view(check: StageCheck, stage: Mapping[str, Any], whose: str) -> StageView:
    computed = {g.kind: g for g in check.computed}
    flagged = {f.kind: f for f in check.flags}
    groups: dict[str, GroupView] = {}
    for kind in GROUP_LABEL:
        group = computed.get(kind)
        submitted = stage.get(kind)
        if group is None and not submitted:
            continue
        groups[kind] = GroupView(
            kind,
            str(submitted) if submitted else None,
            group.stage if group else None,
            group.explanation if group else None,
            kind in flagged,
        )
    warnings = [
        f"{whose} {GROUP_LABEL[f.kind]} {f.submitted} differs from the {EDITION} group "
        f"the board computes: {f.computed} — {computed[f.kind].explanation}"
        for f in check.flags
    ]
    return StageView(check, groups, warnings)


def review_stage_view(review: Review | FileReview) -> StageView | None:
    """The board's groups for a reviewer's structured stage alternative, read with the
    reviewer's own markers; None when the stage verdict has no structured alternative."""
    verdict = review.verdict_for("stage")
    check = alternative_staging(review)
    if check is None or verdict is None or verdict.alternative is None:
        return None
    return _stage_view(check, verdict.alternative, "The reviewer's")


def record_label_of(record: Record | FileRecord) -> str:
    return f"{RECORD_LABEL[RecordKind(record.kind)]} ({record.filename})"


def record_choices(case: Case | None) -> list[tuple[str, str]]:
    """The case's records as the options of a "where this came from" select."""
    return [(str(r.id), record_label_of(r)) for r in (case.records if case else [])]


# The facts whose source record the case form asks for.
SOURCED_FIELDS = {
    "diagnosis": [
        ("histologic_type", "Histologic type"),
        ("grade", "Grade"),
        ("er", "ER"),
        ("pr", "PR"),
        ("her2", "HER2"),
        ("ki67_percent", "Ki-67"),
    ],
    "stage": [("t", "T"), ("n", "N"), ("m", "M"), ("recurrence_score", "Recurrence score")],
}


def source_labels(
    case: Case, records: Iterable[Record | FileRecord] | None = None
) -> dict[str, dict[str, str]]:
    """For each part of the case, the record each sourced fact came from, in words:
    {"diagnosis": {"grade": "Pathology report (core.pdf)"}}; `records`: the case
    file's, or else the case's own."""
    by_id = {r.id: r for r in (case.records if records is None else records)}
    out: dict[str, dict[str, str]] = {}
    for part in ("diagnosis", "stage", "plan"):
        sources = (getattr(case, part) or {}).get("sources") or {}
        labels = {}
        for field, record_id in sources.items():
            record = by_id.get(record_id)
            labels[field] = (
                record_label_of(record)
                if record
                else f"record #{record_id} (no longer on the case)"
            )
        if labels:
            out[part] = labels
    return out


def field_label(name: str) -> str:
    """A form field's path in words for the error summary: "plan.medications.0.dose"
    is "Plan · medication 1 · dose", "diagnosis.sources.grade" "Diagnosis · source of grade"."""
    parts = name.split(".")
    words: list[str] = []
    for index, part in enumerate(parts):
        if part.isdigit() and words:
            words[-1] = f"{words[-1].removesuffix('s')} {int(part) + 1}"
        elif part == "sources" and index + 1 < len(parts):
            words.append(f"source of {parts[index + 1].replace('_', ' ')}")
        elif index > 0 and parts[index - 1] == "sources":
            continue
        else:
            words.append(part.replace("_", " "))
    text = " · ".join(words)
    return text[:1].upper() + text[1:]


def template_helpers() -> dict[str, Any]:
    """What the templates call to show the structured case: computed here, in Python."""
    return {
        "stage_view": stage_view,
        "review_stage_view": review_stage_view,
        "source_labels": source_labels,
        "reason_label": lambda value: label_of(REASON_LABEL, value),
        "retest_label": lambda value: label_of(RETEST_LABEL, value),
        "field_label": field_label,
        "rows_to_show": rows_to_show,
        "group_label": lambda kind: GROUP_LABEL.get(kind, kind.replace("_", " ")),
    }
